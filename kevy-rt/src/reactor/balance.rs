//! Moving connections and slots to the shards whose cores have time (crate
//! doc, "Moving connections to the cores that have time" and "Moving
//! slots to the cores that have time"): the reactor samples its thread's
//! scheduler statistics, a starved shard hands movable connections and
//! its slots to a peer that is not, and slots go home once their home's
//! core has room again.

use super::room::{Stat, Watch};
use super::{Reactor, FIRST_CONN};
use crate::conn::Conn;
use crate::limits::Balance;
use crate::service::Service;
use crate::slot::Heat;
use crate::stats::ShardStats;
use kevy_sys::{Interest, Token};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Time between two samples of a reactor's scheduler statistics.
const SAMPLE_US: u64 = 10_000;
/// Waiting for the core this share (per mille) of a sample makes a shard
/// starved; so does waiting at least [`CALM`] and as long as it ran.
const STARVED: u64 = 250;
/// Starved samples a shard must count before it moves connections: one
/// more for each starved sample, one less for each other, at most
/// `STREAK + 2`. A shard thus starts after three in a row, and one that
/// has been starved for a while goes on through a calmer sample or two.
const STREAK: u32 = 3;
/// A peer takes connections only while it waits less than this, per
/// mille.
const CALM: u64 = 100;
/// A starved shard hands its connections and slots over only once it
/// waited for its core this share (per mille) of its recent time on
/// average ([`Balancer::pressure`]): a load that hops between cores (a
/// process the scheduler moves every few hundred milliseconds) starves
/// each shard part of the time, and the connections and keys would
/// follow it, each time.
const BULK_PRESSURE: u64 = 200;
/// The weight of the newest sample in [`Balancer::pressure`] is
/// `1 / PRESSURE_SPAN` (once the shard has been busy that long): an
/// average over about 8 samples (80 ms). A shard that was busy and calm
/// and then waits 28 % of each sample (its core shared with a load
/// generator, as measured here) reaches [`BULK_PRESSURE`] after about 10;
/// a load that hops between cores is held back further by the backoff
/// after each move ([`Self::may_shed`]).
const PRESSURE_SPAN: u64 = 8;
/// A sample in which the shard ran and waited less than this (per mille)
/// says nothing of its core: it had almost nothing to do. Such samples
/// leave [`Balancer::pressure`] as it is, and after [`PRESSURE_SPAN`] of
/// them in a row the average starts afresh with the next busy sample. A
/// load that starts on an idle shard whose core another process takes
/// is thus judged by its own samples: the average of the first busy
/// ones, not one dragged towards zero by the idle time before them
/// (which made the first 100 ms of every load, the whole of a short
/// benchmark test, run with half its connections on the shared core).
const IDLE: u64 = 50;
/// A peer that ran less than this (per mille) of its last sample is
/// light: it wakes now and then and runs briefly, and a scheduler lets
/// such a thread run at once even on a core another process keeps busy,
/// so its waiting says nothing of its core: it takes connections only
/// where its core is [`roomier`] (crate doc, "Room on the cores").
const LIGHT: u64 = 250;
/// How much more room (per mille of a core) a peer's core must have
/// than a starved shard's own for the shard to hand it connections on
/// room alone: more than a window's tick or so of error on each side
/// ([`super::room::WINDOW_TICKS`]).
const MARGIN: u64 = 150;
/// A load is young for this many busy samples (500 ms) after it began
/// on an idle shard: long enough for the first windows of the watch.
/// Only a young load moves on room alone ([`pick_roomy`]): one that starts
/// split over two shards whose cores are both shared (a load generator
/// on one, a tenant on the other) is gathered on the roomier core, where
/// each shard would otherwise stay starved and send the other half its
/// work; a split that has lasted is left as it is, since loads that are
/// each a shard's own (no work crossing) lose by crowding on one core.
const YOUNG: u64 = 50;
/// Batches pushed to peers in one sample (10 ms) from which a shard's
/// work crosses to other shards: halves of a load that feed each other
/// (a fan-out whose publisher is on one shard and subscribers on both,
/// commands whose keys are elsewhere), which gain by being on one core.
const CROSSING: u64 = 20;
/// Samples in one window of a core's room ([`ShardStats::core_room`]):
/// `/proc/stat` counts CPU time in ticks (10 ms), too coarse for one.
const ROOM_SAMPLES: u32 = 20;
/// Slots go home when their home's core had this much room (per mille)
/// over the last window: whatever took it from the home shard is gone.
const ROOM: u64 = 750;
/// ... and the shard holding them ran at least this much of the last
/// sample (per mille): one core serves a light load at less cost per
/// command than two that pass commands between them.
const GIVE_BUSY: u64 = 700;

/// Whether a shard that ran `run` per mille of the last sample, and is
/// not starved, gives slots back to their home, a peer whose core had
/// `room` per mille, that waited `wait` and is `closed` or not.
fn gives_back(run: u64, room: u64, wait: u64, closed: bool) -> bool {
    run >= GIVE_BUSY && room >= ROOM && wait < CALM && !closed
}

/// Whether a shard that ran `run` and waited `wait` per mille of a sample
/// was starved: it waited a quarter of the time, or, with less work, at
/// least as long as it ran (each of its wake-ups waited for the core).
fn starved(run: u64, wait: u64) -> bool {
    wait >= STARVED || (wait >= CALM && wait >= run)
}

/// Some connection's client-side caching invalidations are redirected to
/// another connection. A RESP3 connection that is not subscribed may be
/// such a target, found by its home, so once any redirect exists RESP3
/// connections stay where they are.
static REDIRECTS: AtomicBool = AtomicBool::new(false);

/// Marks that a tracking connection redirects its invalidations (CLIENT
/// TRACKING … REDIRECT): RESP3 connections and subscribers stop moving
/// between shards.
pub fn note_redirect() {
    REDIRECTS.store(true, Ordering::Relaxed);
}

/// One reactor's view of its own scheduling.
#[derive(Default)]
pub(super) struct Balancer {
    /// `/proc/thread-self/schedstat`, opened on the reactor's thread at
    /// its first sample; `None` where it cannot be read (balancing off).
    file: Option<std::fs::File>,
    opened: bool,
    /// Run and wait time (ns) at the last sample, and when it was taken.
    last: (u64, u64),
    last_us: u64,
    /// The shard this one hands connections to until the next sample:
    /// those it accepts, and those it has just answered.
    shed_to: Option<usize>,
    /// The shard this one, owning no slot, hands connections to until the
    /// next sample, as it does with `shed_to` (without closing itself to
    /// connections: it takes them when a starved peer sheds).
    hand_to: Option<usize>,
    /// The shard a bulk hand-over of all this shard's slots goes to: once
    /// begun, it goes on until no slot is left, starved or not (a
    /// hand-over cut short by a load that moved away leaves some keys on
    /// each shard, and connections on both, each sending half its
    /// commands across).
    pub(super) handing: Option<usize>,
    /// Samples in a row that found this shard starved.
    streak: u32,
    /// How long this shard waited for its core lately: per mille of each
    /// busy sample, a moving average (the mean of the busy samples while
    /// there are fewer than [`PRESSURE_SPAN`]).
    pressure: u64,
    /// Busy samples in the average, at most [`PRESSURE_SPAN`], and idle
    /// samples in a row since the last busy one.
    busy: u64,
    idle: u64,
    /// Batches pushed to peers at the last sample, and whether the last
    /// sample's were [`CROSSING`].
    pushed: u64,
    crossing: bool,
    /// Busy samples since this shard's load began (it was idle for
    /// [`PRESSURE_SPAN`] samples before), up to [`YOUNG`] + 1.
    age: u64,
    /// The shards are pinned to distinct CPUs (`Balance::Yes` needs it).
    pub(super) pinned: bool,
    /// The CPU this shard is pinned to, if pinned.
    pub(super) cpu: Option<usize>,
    /// `/proc/stat`, opened at the first window of room.
    stat: Stat,
    /// The core's idle and total ticks and this thread's run time (ns) at
    /// the start of the window, and samples since.
    room_from: Option<(u64, u64, u64)>,
    room_samples: u32,
    /// While this shard is starved: every shard's room on its core.
    watch: Watch,
    /// Samples under `shard-balance churn`.
    churns: u32,
    /// The last sample found this shard or a peer starved: it does not
    /// poll before sleeping. Its own poll would take time from whoever
    /// competes for its core; a starved peer answers when it gets its
    /// core, often after the poll gave up, so polling for it burns CPU
    /// for nothing.
    pub(super) no_poll: bool,
}

impl Balancer {
    /// Whether this shard has been starved long enough to hand its
    /// connections and slots over: it waited [`BULK_PRESSURE`] of its
    /// busy time on average, and either counts a streak of starved
    /// samples or its load is [`Self::fresh`], judged by its first busy
    /// samples alone: a load that started on an idle shard is not one
    /// the scheduler moved here from a busy peer, and its first 20 ms
    /// say where it runs.
    fn lasting(&self) -> bool {
        (self.streak >= STREAK || self.fresh()) && self.pressure >= BULK_PRESSURE
    }

    /// Whether this shard's load started on an idle shard, and has been
    /// judged by two samples at least and by fewer than
    /// [`PRESSURE_SPAN`].
    fn fresh(&self) -> bool {
        self.busy >= 2 && self.busy < PRESSURE_SPAN
    }

    /// Adds a sample in which the shard ran `run` and waited `wait` per
    /// mille to [`Self::pressure`] ([`IDLE`]).
    fn weigh(&mut self, run: u64, wait: u64) {
        if run + wait < IDLE {
            self.idle += 1;
            if self.idle >= PRESSURE_SPAN {
                self.busy = 0;
                self.pressure = 0;
                self.age = 0;
            }
            return;
        }
        self.idle = 0;
        self.age = (self.age + 1).min(YOUNG + 1);
        self.busy = (self.busy + 1).min(PRESSURE_SPAN);
        self.pressure = (self.pressure * (self.busy - 1) + wait) / self.busy;
    }

    /// Reads run and wait time (ns) of the calling thread.
    fn read(&mut self) -> Option<(u64, u64)> {
        if !self.opened {
            self.opened = true;
            self.file = std::fs::File::open("/proc/thread-self/schedstat").ok();
        }
        let mut buf = [0u8; 96];
        let n = self.file.as_ref()?.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let mut it = text.split_ascii_whitespace().map(|w| w.parse::<u64>().ok());
        Some((it.next()??, it.next()??))
    }

    /// The idle and total ticks of CPU `cpu` in `/proc/stat`.
    fn read_cpu(&mut self, cpu: usize) -> Option<(u64, u64)> {
        self.stat.ticks(cpu)?.get(cpu).copied().flatten()
    }

    /// At each sample (run time `run`, ns): once a window closes, the
    /// per mille of CPU `cpu` that was idle or this thread's.
    fn room(&mut self, cpu: usize, run: u64) -> Option<u64> {
        self.room_samples += 1;
        if self.room_from.is_some() && self.room_samples < ROOM_SAMPLES {
            return None;
        }
        self.room_samples = 0;
        let (idle, total) = self.read_cpu(cpu)?;
        let (idle0, total0, run0) = self.room_from.replace((idle, total, run))?;
        let ticks = total.saturating_sub(total0);
        if ticks == 0 {
            return None;
        }
        let tick_ns = 1_000_000_000 / kevy_sys::clock::ticks_per_sec().max(1);
        let mine = run.saturating_sub(run0) / tick_ns.max(1);
        Some(((idle.saturating_sub(idle0) + mine) * 1000 / ticks).min(1000))
    }
}

/// Where a starved shard hands connections, given its peers' `(shard,
/// run, wait, closed)`: to the peer that waited least, if that one gets
/// its core (however busy its own work keeps it: a starved shard has only
/// part of one) and is not closed to them. A peer is closed while it
/// hands connections away itself (two shards that each think the other
/// has time would pass them back and forth) and while it runs a command
/// that may run long (its last sample is from before the command, and a
/// connection handed to it would wait, unanswered, for the command's end).
fn pick(peers: impl Iterator<Item = (usize, u64, u64, bool)>) -> Option<usize> {
    let (w, j) = peers.filter(|p| !p.3).map(|(j, _, w, _)| (w, j)).min()?;
    (w < CALM).then_some(j)
}

/// Where a shard whose load has just started hands it when no peer is
/// calm, given its own [`Balancer::pressure`] and its peers' `(shard,
/// pressure, closed)`: to the peer that waited least on average, if that
/// is under half of what this shard waited. Both cores wait now and
/// then while a client the scheduler moves between them at each wake-up
/// (an unpinned `redis-benchmark` whose two cores each run a busy shard)
/// shares each in turn; it stops once one shard serves every
/// connection and the other core is the client's. Two shards never
/// choose each other: each would have to have waited under half of
/// what the other did.
fn pick_fresh(mine: u64, peers: impl Iterator<Item = (usize, u64, bool)>) -> Option<usize> {
    let (p, j) = peers.filter(|p| !p.2).map(|(j, p, _)| (p, j)).min()?;
    (p * 2 < mine).then_some(j)
}

/// Whether a peer whose core offered `peer` per mille over the last
/// window of the watch has clearly more room than this shard's, `mine`:
/// [`MARGIN`] more. Two shards never find each other roomier.
fn roomier(mine: Option<u64>, peer: Option<u64>) -> bool {
    matches!((mine, peer), (Some(m), Some(p)) if p >= m + MARGIN)
}

/// Where starved shard `me` hands its load when no peer is calm, given
/// its own room, whether its load is young ([`YOUNG`]) and whether its
/// work crosses to its peers ([`CROSSING`]), and its peers' `(shard,
/// room, closed)`. A young or crossing load goes to the roomiest peer if
/// that one is [`roomier`]. Failing that, a young crossing load whose
/// peer's room is within [`MARGIN`] of its own goes to the peer of the
/// lowest number among those: a load that the kernel split at its start
/// over two shared cores, in halves that feed each other (a fan-out), is
/// gathered on one of them, and the shard of the lower number keeps it
/// (its peer would hand it over only to a roomier core). Only while
/// young: a lasting load whose shards merely send each other some
/// commands keeps both cores' time where both are shared alike.
fn pick_roomy(
    me: usize,
    mine: Option<u64>,
    (young, crossing): (bool, bool),
    peers: impl Iterator<Item = (usize, Option<u64>, bool)>,
) -> Option<usize> {
    if !young && !crossing {
        return None;
    }
    let open: Vec<(u64, usize)> = peers
        .filter(|p| !p.2)
        .filter_map(|(j, r, _)| Some((r?, j)))
        .collect();
    let best = |v: &[(u64, usize)]| {
        v.iter()
            .max_by_key(|&&(r, j)| (r, std::cmp::Reverse(j)))
            .copied()
    };
    if let Some((room, j)) = best(&open) {
        if roomier(mine, Some(room)) {
            return Some(j);
        }
    }
    let mine = mine.filter(|_| young && crossing)?;
    let lower: Vec<(u64, usize)> = open
        .into_iter()
        .filter(|&(r, j)| j < me && r + MARGIN > mine)
        .collect();
    best(&lower).map(|(_, j)| j)
}

/// Where a shard that owns no slot hands its connections, given its
/// peers' `(shard, slots owned, wait, closed)`: to the calmest peer that
/// owns slots and is not closed. Every command such a connection sends
/// would cross to another shard; at the owner of the keys it runs inline.
fn owner_for(peers: impl Iterator<Item = (usize, usize, u64, bool)>) -> Option<usize> {
    peers
        .filter(|p| p.1 > 0 && !p.3)
        .map(|(j, _, w, _)| (w, j))
        .min()
        .map(|(_, j)| j)
}

/// The CPU shard `s` is pinned to, if it is.
fn cpu_of(s: &ShardStats) -> Option<usize> {
    (s.cpu.load(Ordering::Relaxed) as usize).checked_sub(1)
}

/// Whether a peer takes no connections now (see [`pick`]).
fn closed(s: &ShardStats) -> bool {
    s.shedding.load(Ordering::Relaxed) != 0 || s.running_long.load(Ordering::Relaxed) != 0
}

impl<S: Service> Reactor<S> {
    /// Samples this shard's scheduling every `SAMPLE_US` and moves
    /// connections when the rule says so. Called once per iteration.
    #[inline]
    pub(super) fn balance(&mut self) {
        if self.n == 1 || self.now_us < self.bal.last_us + SAMPLE_US {
            return;
        }
        self.sample();
    }

    #[cold]
    #[inline(never)]
    fn sample(&mut self) {
        self.drop_idle_walk();
        self.heat_due();
        self.sample_inner();
        self.heat_looked();
    }

    fn sample_inner(&mut self) {
        let now = self.now_us;
        let elapsed = now.saturating_sub(self.bal.last_us).max(1);
        let first = self.bal.last_us == 0;
        self.bal.last_us = now;
        let stats = self.stats.clone();
        let me = &stats.shards[self.id];
        let mode = self.lim.v.balance;
        let sample = match mode {
            Balance::Yes if self.bal.pinned => self.bal.read(),
            _ => None,
        };
        let Some((run, wait)) = sample else {
            self.bal.no_poll = false;
            self.bal.hand_to = None;
            self.bal.handing = None;
            if self.bal.shed_to.take().is_some() {
                me.shedding.store(0, Ordering::Relaxed);
            }
            let next = (self.id + 1) % self.n;
            self.mig.warming = mode == Balance::Churn;
            if mode == Balance::Churn
                && stats.shards[next].running_long.load(Ordering::Relaxed) == 0
            {
                self.move_some(next, false);
                self.move_hot_slot(next, Heat::Routed, true);
                // And now and then in bulk, as a starved shard hands over.
                self.bal.churns = self.bal.churns.wrapping_add(1);
                if self.bal.churns.is_multiple_of(4) {
                    self.move_slots_where(next, |_| true);
                }
            }
            return;
        };
        let (run0, wait0) = std::mem::replace(&mut self.bal.last, (run, wait));
        if first {
            return;
        }
        // ns over µs: per mille is ns * 1000 / (µs * 1000).
        let per_mille = |d: u64| (d / elapsed).min(1000);
        let (r, w) = (
            per_mille(run.saturating_sub(run0)),
            per_mille(wait.saturating_sub(wait0)),
        );
        me.cpu_run.store(r, Ordering::Relaxed);
        me.cpu_wait.store(w, Ordering::Relaxed);
        if self.slots.moved() == 0 {
            // Nothing to give back: the next window starts when slots
            // are away again, and no old room stands for it meanwhile.
            self.bal.room_from = None;
            me.core_room.store(0, Ordering::Relaxed);
        } else if let Some(cpu) = self.bal.cpu {
            if let Some(room) = self.bal.room(cpu, run) {
                me.core_room.store(room, Ordering::Relaxed);
            }
        }
        let id = self.id;
        let peers = (0..self.n).filter(move |&j| j != id).map(|j| {
            let s = &stats.shards[j];
            (
                j,
                s.cpu_run.load(Ordering::Relaxed),
                s.cpu_wait.load(Ordering::Relaxed),
                closed(s),
            )
        });
        let peer_starved = peers.clone().any(|(_, r, w, _)| starved(r, w));
        let me_starved = starved(r, w);
        self.bal.no_poll = me_starved || peer_starved;
        self.mig.warming = self.bal.no_poll;
        self.bal.weigh(r, w);
        me.cpu_pressure.store(self.bal.pressure, Ordering::Relaxed);
        self.bal.streak = if me_starved {
            (self.bal.streak + 1).min(STREAK + 2)
        } else {
            self.bal.streak.saturating_sub(1)
        };
        let pushed = std::mem::replace(&mut self.bal.pushed, self.mesh.pushed);
        self.bal.crossing = self.mesh.pushed.saturating_sub(pushed) >= CROSSING;
        // While starved, it watches every shard's core: a light peer's
        // own samples cannot say whether its core is free.
        if me_starved || self.bal.streak > 0 {
            let cpus: Vec<Option<usize>> = stats.shards.iter().map(cpu_of).collect();
            let runs: Vec<u64> = (0..self.n)
                .map(|j| match j == id {
                    true => r,
                    false => stats.shards[j].cpu_run.load(Ordering::Relaxed),
                })
                .collect();
            self.bal.watch.sample(now, &cpus, &runs);
        } else {
            self.bal.watch.reset();
        }
        // A burst (500 connections arriving at once, a wake-up storm) can
        // starve a shard for one sample, and a load the scheduler moves
        // between cores starves each shard for a while: only a streak
        // within lasting starvation moves connections, and not soon
        // after this shard took some ([`Self::may_shed`]). A load that
        // starts on an idle shard is judged sooner ([`Balancer::lasting`]).
        let chosen = if self.bal.lasting() {
            // A light peer takes none unless its core is roomier than this
            // shard's (crate doc, "Room on the cores").
            let watch = &self.bal.watch;
            let mine = watch.room(id);
            let full: Vec<bool> = (0..self.n)
                .map(|j| {
                    let light = stats.shards[j].cpu_run.load(Ordering::Relaxed) < LIGHT;
                    light && !watch.blind && !roomier(mine, watch.room(j))
                })
                .collect();
            let takers = peers.clone().map(|(j, r, w, c)| (j, r, w, c || full[j]));
            // Peers' averages are read only for a fresh load.
            let fresh = || {
                let pressures = (0..self.n).filter(|&j| j != id).map(|j| {
                    let s = &stats.shards[j];
                    (
                        j,
                        s.cpu_pressure.load(Ordering::Relaxed),
                        closed(s) || full[j],
                    )
                });
                self.bal
                    .fresh()
                    .then(|| pick_fresh(self.bal.pressure, pressures))
                    .flatten()
            };
            let load = (self.bal.age <= YOUNG, self.bal.crossing);
            let roomy = || {
                let rooms = peers.clone().map(|(j, _, _, c)| (j, watch.room(j), c));
                pick_roomy(id, mine, load, rooms)
            };
            let chosen = pick(takers).or_else(fresh).or_else(roomy);
            chosen.filter(|_| self.may_shed())
        } else {
            None
        };
        self.bal.hand_to = None;
        match chosen {
            Some(j) => {
                self.bal.shed_to = Some(j);
                me.shedding.store(1, Ordering::Relaxed);
                self.move_some(j, false);
                // Its hottest slot first, then the others in bulk: its
                // core is someone else's now.
                self.move_hot_slot(j, Heat::Routed, false);
                self.bal.handing = Some(j);
                self.move_slots_where(j, |_| true);
            }
            None => {
                if self.bal.shed_to.take().is_some() {
                    me.shedding.store(0, Ordering::Relaxed);
                }
                if let Some(j) = self.bal.handing {
                    // Unless the peer hands its own over now (to here).
                    if self.slots.owned(self.id) == 0 || closed(&stats.shards[j]) {
                        self.bal.handing = None;
                    } else {
                        self.move_slots_where(j, |_| true);
                    }
                }
                // All of its slots are elsewhere: so go its connections.
                if self.slots.owned(self.id) == 0 {
                    let slots = self.slots.clone();
                    let owners = peers.map(|(j, _, w, c)| (j, slots.owned(j), w, c));
                    self.bal.hand_to = owner_for(owners).filter(|_| self.may_shed());
                    if let Some(j) = self.bal.hand_to {
                        self.move_some(j, true);
                    }
                }
                // Hot slots that commands use together across shards go
                // to the calmest shard.
                let all = (0..self.n).map(|j| {
                    let s = &stats.shards[j];
                    (s.cpu_wait.load(Ordering::Relaxed), j)
                });
                if let Some((w, j)) = all.min() {
                    if j != self.id && w < CALM {
                        self.move_hot_slot(j, Heat::Spanning, false);
                    }
                }
                if !me_starved && self.slots.moved() > 0 && self.bal.handing.is_none() {
                    self.give_back(r);
                }
            }
        }
    }

    /// Gives slots this shard holds back to a home whose core has room
    /// again ([`gives_back`]), as many as one move of many takes; not
    /// within the backoff of taking connections or slots
    /// ([`Self::may_shed`]): a load that the scheduler moved onto this
    /// core for a moment leaves the other one idle for as long.
    fn give_back(&mut self, run: u64) {
        let stats = self.stats.clone();
        let me = self.id;
        let homes: Vec<usize> = (0..self.n)
            .filter(|&i| {
                let s = &stats.shards[i];
                i != me
                    && gives_back(
                        run,
                        s.core_room.load(Ordering::Relaxed),
                        s.cpu_wait.load(Ordering::Relaxed),
                        closed(s),
                    )
            })
            .collect();
        // Asked only when some home qualifies: asking may double it.
        if homes.is_empty() || !self.may_shed() {
            return;
        }
        let map = self.slots.clone();
        for i in homes {
            if self.move_slots_where(i, |slot| map.home(slot) == i) {
                return;
            }
        }
    }

    /// Whether connections accepted or answered now go to another shard,
    /// and which: the one the last sample chose, unless it has started a
    /// command that may run long since.
    #[inline]
    pub(super) fn shedding(&self) -> Option<usize> {
        let to = self.bal.shed_to.or(self.bal.hand_to)?;
        (self.stats.shards[to].running_long.load(Ordering::Relaxed) == 0).then_some(to)
    }

    /// Moves half of the movable connections (at least one), or `all` of
    /// them, to shard `to`.
    fn move_some(&mut self, to: usize, all: bool) {
        let pin = REDIRECTS.load(Ordering::Relaxed);
        let mut movable: Vec<u32> = Vec::new();
        for (idx, c) in self.conns.iter().enumerate() {
            if let Some(c) = c {
                if Self::can_move(c, pin) {
                    movable.push(idx as u32);
                }
            }
        }
        let k = if all {
            movable.len()
        } else {
            movable.len().div_ceil(2)
        };
        let mut session = None;
        for idx in movable.into_iter().take(k) {
            self.move_out(idx, to, &mut session);
        }
    }

    /// Whether connection `c` may move now. Once a connection has used
    /// CLIENT TRACKING … REDIRECT, its target (a RESP3 connection, or a
    /// RESP2 subscriber) may be any of them, addressed at its home: those
    /// stay.
    fn can_move(c: &Conn<S>, pin: bool) -> bool {
        c.movable() && !(pin && (c.st.client.resp3 || c.st.client.subscribed))
    }

    /// Moves connection `idx`, if it is movable, to shard `to`.
    pub(super) fn move_if_movable(&mut self, idx: u32, to: usize) {
        let pin = REDIRECTS.load(Ordering::Relaxed);
        if let Some(Some(c)) = self.conns.get(idx as usize) {
            if Self::can_move(c, pin) {
                self.move_out(idx, to, &mut None);
            }
        }
    }

    /// Takes connection `idx` out of this shard and sends it to `to`. A
    /// subscriber leaves a proxy behind, in handoff `session` (opened by
    /// the first subscriber a call moves).
    fn move_out(&mut self, idx: u32, to: usize, session: &mut Option<u32>) {
        let Some(mut c) = self.conns.get_mut(idx as usize).and_then(Option::take) else {
            return;
        };
        let _ = self.poller.delete(c.io.stream.fd());
        c.io.interest = None;
        // A movable connection is in no transaction or group: the
        // coordinator holds nothing of it.
        self.ids.remove(&c.st.client.id);
        if c.st.subs.is_some() {
            let e = match *session {
                Some(e) => e,
                None => *session.insert(self.open_handoff(to)),
            };
            self.leave_proxy(idx, e, &mut c);
        } else {
            self.gens[idx as usize] = self.gens[idx as usize].wrapping_add(1);
            self.free.push(idx);
        }
        c.st.client.home = to as u32;
        let s = self.my_stats();
        s.connected_clients.fetch_sub(1, Ordering::Relaxed);
        s.moved_out.fetch_add(1, Ordering::Relaxed);
        // Counted on arrival: the new home adds it to its clients.
        self.mesh.batch(to).conns.push(c);
    }

    /// Enters a connection another shard moved here into the table.
    pub(super) fn adopt(&mut self, mut c: Box<Conn<S>>) {
        let idx = super::accept::free_slot(&mut self.conns, &mut self.gens, &mut self.free);
        let token = Token(idx as usize + FIRST_CONN);
        c.st.client.home = self.id as u32;
        // It hands none of them on within the backoff (`may_shed`).
        self.my_stats()
            .took_us
            .store(self.now_us.max(1), Ordering::Relaxed);
        self.ids.insert(c.st.client.id, idx);
        // Listed nowhere here yet; output it brought goes out first.
        c.in_ready = false;
        c.in_push = false;
        c.in_write = c.st.unsent() > 0;
        if c.in_write {
            self.writes.push(idx);
        }
        if c.st.migrating.is_some() {
            self.arrive(idx, self.gens[idx as usize], &c);
        }
        match self.poller.add(c.io.stream.fd(), token, Interest::READABLE) {
            Ok(()) => c.io.interest = Some(Interest::READABLE),
            Err(e) => {
                // The socket cannot be watched here: it closes, as an
                // accept that cannot watch its socket does, through the
                // table (a moving subscriber's cut still runs).
                eprintln!("kevy: cannot watch a moved connection: {e}");
                c.st.closing = true;
                if !c.in_write {
                    c.in_write = true;
                    self.writes.push(idx);
                }
            }
        }
        self.conns[idx as usize] = Some(c);
        self.my_stats()
            .connected_clients
            .fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_load_goes_to_the_peer_that_waited_under_half_as_long() {
        assert_eq!(pick_fresh(240, [(1, 119, false)].into_iter()), Some(1));
        assert_eq!(pick_fresh(240, [(1, 120, false)].into_iter()), None);
        assert_eq!(pick_fresh(240, [(1, 10, true)].into_iter()), None);
        let peers = [(1, 100, false), (2, 30, false), (3, 0, true)];
        assert_eq!(pick_fresh(240, peers.into_iter()), Some(2));
        // Never both ways.
        for (a, b) in [(200, 100), (300, 140), (0, 0), (400, 400)] {
            let ab = pick_fresh(a, [(1, b, false)].into_iter()).is_some();
            let ba = pick_fresh(b, [(0, a, false)].into_iter()).is_some();
            assert!(!(ab && ba), "{a} {b}");
        }
    }

    #[test]
    fn a_load_on_an_idle_shard_is_judged_by_its_own_samples() {
        // How many samples of 70 % run and 28 % wait it takes to reach
        // the bulk threshold, after `before`.
        fn samples_to_shed(b: &mut Balancer, before: &[(u64, u64)]) -> usize {
            for &(r, w) in before {
                b.weigh(r, w);
            }
            (1..100)
                .find(|_| {
                    b.weigh(700, 280);
                    b.pressure >= BULK_PRESSURE
                })
                .unwrap()
        }
        // A fresh shard, and one idle for a while: the load's first
        // samples decide, within the streak's three.
        assert_eq!(samples_to_shed(&mut Balancer::default(), &[]), 1);
        // Fresh for its 2nd to 7th busy sample.
        let mut b = Balancer::default();
        b.weigh(700, 280);
        assert!(!b.fresh() && !b.lasting());
        b.weigh(700, 280);
        assert!(b.fresh() && b.lasting());
        for _ in 0..6 {
            b.weigh(700, 280);
        }
        assert!(!b.fresh() && !b.lasting());
        // A shard that was busy and calm until now (a load the scheduler
        // moved onto its core) waits for the average; once it has been
        // idle a while, the next load is judged afresh.
        let mut b = Balancer::default();
        assert_eq!(samples_to_shed(&mut b, &[(900, 20); 20]), 10);
        let idle = [(0, 0); PRESSURE_SPAN as usize];
        assert_eq!(samples_to_shed(&mut b, &idle), 1);
        // A short lull keeps the history; a starved sample with little
        // work still counts.
        let mut b = Balancer::default();
        let lull = [(10, 0); PRESSURE_SPAN as usize - 1];
        b.weigh(900, 20);
        for &(r, w) in &lull {
            b.weigh(r, w);
        }
        assert_eq!(b.pressure, 20);
        b.weigh(40, 40);
        assert_eq!(b.pressure, 30);
    }

    #[test]
    fn only_a_starved_shard_hands_connections_to_a_peer_that_gets_its_core() {
        fn peers(v: &[(usize, u64, u64)]) -> impl Iterator<Item = (usize, u64, u64, bool)> + '_ {
            v.iter().map(|&(j, r, w)| (j, r, w, false))
        }
        // Starved: a quarter of the time waiting, or with little work as
        // long waiting as running.
        assert!(!starved(900, STARVED - 1));
        assert!(starved(900, STARVED));
        assert!(starved(170, 200));
        assert!(!starved(300, 200));
        assert!(!starved(20, CALM - 1));
        // The peer gets its core, however busy it is.
        assert_eq!(pick(peers(&[(1, 500, 0)])), Some(1));
        assert_eq!(pick(peers(&[(1, 1000, 0)])), Some(1));
        // It waits itself.
        assert_eq!(pick(peers(&[(1, 100, CALM)])), None);
        // The calmest of several.
        assert_eq!(
            pick(peers(&[(0, 300, 90), (2, 800, 10), (3, 100, 50)])),
            Some(2)
        );
        // No peer.
        assert_eq!(pick(peers(&[])), None);
        // A peer closed to connections takes none, however calm.
        let shedding = [(1, 100, 0, true), (2, 100, 50, false)];
        assert_eq!(pick(shedding.into_iter()), Some(2));
        assert_eq!(pick(shedding[..1].iter().copied()), None);
    }

    #[test]
    fn a_shard_without_slots_hands_connections_to_the_calmest_owner() {
        // (shard, slots owned, wait, closed)
        assert_eq!(owner_for([(1, 16384, 300, false)].into_iter()), Some(1));
        // The calmest of those that own slots; one without takes none.
        let peers = [(0, 0, 0, false), (2, 100, 80, false), (3, 9000, 20, false)];
        assert_eq!(owner_for(peers.into_iter()), Some(3));
        // Nor one that sheds itself or runs a script.
        let closed = [(1, 100, 0, true), (2, 50, 400, false)];
        assert_eq!(owner_for(closed.into_iter()), Some(2));
        assert_eq!(owner_for(closed[..1].iter().copied()), None);
        assert_eq!(owner_for(std::iter::empty()), None);
    }

    #[test]
    fn slots_go_home_from_a_busy_shard_to_a_core_with_room() {
        assert!(gives_back(GIVE_BUSY, ROOM, 0, false));
        // A light load stays on one core.
        assert!(!gives_back(GIVE_BUSY - 1, 1000, 0, false));
        // The home's core is still someone else's, or its shard waits.
        assert!(!gives_back(1000, ROOM - 1, 0, false));
        assert!(!gives_back(1000, 1000, CALM, false));
        // Nor to a home that sheds or runs a script.
        assert!(!gives_back(1000, 1000, 0, true));
    }

    #[test]
    fn a_load_is_young_for_its_first_half_second() {
        let mut b = Balancer::default();
        for _ in 0..YOUNG {
            b.weigh(600, 300);
        }
        assert!(b.age <= YOUNG);
        b.weigh(600, 300);
        assert!(b.age > YOUNG);
        // A lull keeps its age; an idle spell ends the load.
        for _ in 0..PRESSURE_SPAN - 1 {
            b.weigh(0, 0);
        }
        b.weigh(600, 300);
        assert!(b.age > YOUNG);
        for _ in 0..PRESSURE_SPAN {
            b.weigh(0, 0);
        }
        b.weigh(600, 300);
        assert_eq!(b.age, 1);
    }

    #[test]
    fn a_cores_ticks_are_read() {
        let mut b = Balancer::default();
        if let Some((idle, total)) = b.read_cpu(0) {
            assert!(idle <= total && total > 0);
        }
    }

    #[test]
    fn with_no_calm_peer_the_load_goes_to_a_clearly_roomier_core() {
        assert!(roomier(Some(600), Some(600 + MARGIN)));
        assert!(!roomier(Some(600), Some(600 + MARGIN - 1)));
        // Unknown on either side: no.
        assert!(!roomier(None, Some(1000)) && !roomier(Some(0), None));
        // Never both ways.
        for (a, b) in [(0, 0), (500, 650), (1000, 1000), (300, 440)] {
            assert!(!(roomier(Some(a), Some(b)) && roomier(Some(b), Some(a))));
        }
        // (shard, room, closed): a young load goes to the roomiest open
        // one, if roomier.
        let young = (true, false);
        let peers = [
            (1, Some(700), false),
            (2, Some(950), true),
            (3, Some(900), false),
        ];
        assert_eq!(pick_roomy(0, Some(600), young, peers.into_iter()), Some(3));
        assert_eq!(pick_roomy(0, Some(760), young, peers.into_iter()), None);
        assert_eq!(pick_roomy(0, None, young, peers.into_iter()), None);
        let unknown = [(1, None, false), (2, Some(900), false)];
        assert_eq!(
            pick_roomy(0, Some(100), young, unknown.into_iter()),
            Some(2)
        );
        // Equal rooms: the lowest shard.
        let tie = [(2, Some(900), false), (1, Some(900), false)];
        assert_eq!(pick_roomy(0, Some(100), young, tie.into_iter()), Some(1));
        // A load that is neither young nor crossing stays.
        assert_eq!(
            pick_roomy(0, Some(100), (false, false), tie.into_iter()),
            None
        );
        // A crossing one goes to a clearly roomier peer at any age; a
        // young crossing one to a peer of a lower number whose room is
        // within the margin; never both ways.
        let old = (false, true);
        assert_eq!(pick_roomy(0, Some(100), old, tie.into_iter()), Some(1));
        let peer = |j, r| [(j, Some(r), false)].into_iter();
        assert_eq!(pick_roomy(1, Some(600), old, peer(0, 600)), None);
        let split = (true, true);
        assert_eq!(
            pick_roomy(1, Some(600), split, peer(0, 600 - MARGIN + 1)),
            Some(0)
        );
        assert_eq!(pick_roomy(1, Some(600), split, peer(0, 600 - MARGIN)), None);
        assert_eq!(
            pick_roomy(0, Some(600), split, peer(1, 600 + MARGIN - 1)),
            None
        );
        for (a, b) in [(500, 500), (500, 640), (640, 500), (300, 700), (700, 300)] {
            let down = pick_roomy(1, Some(a), split, peer(0, b)).is_some();
            let up = pick_roomy(0, Some(b), split, peer(1, a)).is_some();
            assert!(!(down && up), "{a} {b}");
        }
    }

    #[test]
    fn a_peer_is_closed_while_it_sheds_or_runs_a_long_command() {
        let s = ShardStats::default();
        assert!(!closed(&s));
        s.running_long.store(1, Ordering::Relaxed);
        assert!(closed(&s));
        s.running_long.store(0, Ordering::Relaxed);
        s.shedding.store(1, Ordering::Relaxed);
        assert!(closed(&s));
    }

    #[test]
    fn a_thread_reads_its_own_run_time() {
        let mut b = Balancer::default();
        let Some((run0, _)) = b.read() else {
            // No scheduler statistics on this kernel: balancing stays off.
            return;
        };
        // Spins until the thread's run time has grown by 5 ms, however
        // little of a core a loaded machine gives it: 30 ms of wall time
        // may hold less. A read that does not follow the thread never
        // grows, and fails at the deadline.
        let t = std::time::Instant::now();
        let mut x = 0u64;
        loop {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            let (run1, _) = b.read().expect("read again");
            if run1 > run0 + 5_000_000 {
                break;
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(30),
                "{run0} -> {run1} in {:?}",
                t.elapsed()
            );
        }
    }
}
