//! Pub/sub: each shard keeps the subscriptions of its own connections, and
//! a PUBLISH asks every shard that has any to deliver and count.
//!
//! A message is copied once per shard (one request on the ring to each
//! shard with subscriptions) and framed once per shard; each subscriber
//! then gets that frame, its first byte set for its protocol (`*` in
//! RESP2, `>` in RESP3: the rest of a message frame is the same in both).
//! The crate doc ("Pub/sub") has the argument for exact counts and order.
//!
//! Writing pushes: a subscriber whose output holds only pushed messages
//! waits in the push queue, written after the replies of the iteration and
//! for at most [`PUSH_ROUND_US`] per iteration, oldest first. The loop
//! does not sleep while the queue holds anyone, so an idle shard writes
//! every subscriber at once, a round at a time with a look at its sockets
//! and rings between rounds; a shard with input pending reads it first,
//! and the messages it delivers join the output of the subscribers still
//! queued, which then leave in one write instead of one per publisher
//! batch. Coalescing thus happens only while input is pending; a queued
//! subscriber is written once it has waited [`PUSH_MAX_DELAY_US`] (at the
//! end of the iteration under way) or holds [`PUSH_FLUSH_BYTES`].

use super::handoff::{queue_push, Gets, Handoff};
use super::Reactor;
use crate::conn::ConnState;
use crate::fold::FanOut;
use crate::msg::{Dest, Req, Resp};
use crate::service::{Fold, OutputLimit, PubSubOp, Service};
use kevy_resp::{Args, Reply};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;

/// The longest one iteration spends writing queued subscribers before it
/// looks at its sockets and rings again: a few writes of a few µs each.
pub(super) const PUSH_ROUND_US: u64 = 25;
/// A subscriber queued this long ago is written by the next flush,
/// whatever the round has spent. With the work of the iteration under way
/// (bounded by the command and ring budgets) this bounds how long a queued
/// message waits.
pub(super) const PUSH_MAX_DELAY_US: u64 = 1000;
/// Unsent output at which a subscriber is written in the iteration that
/// delivered to it, without queueing.
pub(super) const PUSH_FLUSH_BYTES: usize = 64 * 1024;

type Map<K, V> = HashMap<K, V, ahash::RandomState>;
type Set<K> = HashSet<K, ahash::RandomState>;

/// What a subscription names: a channel, a pattern of channels, or a
/// shard channel (SSUBSCRIBE). Indexes the per-kind tables below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Channel = 0,
    Pattern = 1,
    Shard = 2,
}

impl Kind {
    fn subscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// One connection's subscriptions, by kind.
#[derive(Default, Clone)]
pub(crate) struct Subs {
    pub sets: [Set<Vec<u8>>; 3],
}

impl Subs {
    pub fn total(&self) -> usize {
        self.sets.iter().map(Set::len).sum()
    }

    /// The count Redis puts in a (un)subscribe confirmation: shard
    /// channels for the sharded commands, channels and patterns for the
    /// others.
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.sets[2].len(),
            _ => self.sets[0].len() + self.sets[1].len(),
        }
    }
}

/// This shard's subscribers, by kind and name: connection slab index to
/// generation (a slot reused by a new connection has a new generation).
#[derive(Default)]
pub(super) struct Registry {
    maps: [Map<Vec<u8>, Map<u32, u32>>; 3],
}

impl Registry {
    pub(super) fn add(&mut self, kind: Kind, name: &[u8], idx: u32, gen: u32) {
        self.maps[kind as usize]
            .entry(name.to_vec())
            .or_default()
            .insert(idx, gen);
    }

    pub(super) fn remove(&mut self, kind: Kind, name: &[u8], idx: u32) {
        let map = &mut self.maps[kind as usize];
        if let Some(subs) = map.get_mut(name) {
            subs.remove(&idx);
            if subs.is_empty() {
                map.remove(name);
            }
        }
    }
}

/// Every subscription's name, by kind, with how many connections (on any
/// shard) hold it: what PUBSUB CHANNELS, NUMSUB, NUMPAT and INFO report.
/// Shared by the shards behind a lock that subscribing, unsubscribing and
/// PUBSUB take; PUBLISH never does.
#[derive(Default, Debug)]
pub(crate) struct Directory {
    maps: [Map<Vec<u8>, u64>; 3],
}

impl Directory {
    fn add(&mut self, kind: Kind, name: &[u8]) {
        *self.maps[kind as usize].entry(name.to_vec()).or_default() += 1;
    }

    fn remove(&mut self, kind: Kind, name: &[u8]) {
        let map = &mut self.maps[kind as usize];
        if let Some(n) = map.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                map.remove(name);
            }
        }
    }

    fn len(&self, kind: Kind) -> usize {
        self.maps[kind as usize].len()
    }

    /// Subscriptions a message on `channel` reaches (see
    /// [`crate::Stats::receivers`]).
    pub(crate) fn receivers(&self, channel: &[u8], sharded: bool) -> u64 {
        if sharded {
            return self.maps[Kind::Shard as usize]
                .get(channel)
                .copied()
                .unwrap_or(0);
        }
        let direct = self.maps[Kind::Channel as usize]
            .get(channel)
            .copied()
            .unwrap_or(0);
        let by_pattern: u64 = self.maps[Kind::Pattern as usize]
            .iter()
            .filter(|(p, _)| kevy_store::glob::matches(p, channel))
            .map(|(_, n)| *n)
            .sum();
        direct + by_pattern
    }
}

impl<S: Service> Reactor<S> {
    /// Runs a pub/sub command for one of this shard's connections.
    pub(super) fn pubsub(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        op: PubSubOp,
        args: Args<'_>,
    ) {
        match op {
            PubSubOp::Subscribe => self.subscribe(idx, gen, st, Kind::Channel, args),
            PubSubOp::PSubscribe => self.subscribe(idx, gen, st, Kind::Pattern, args),
            PubSubOp::SSubscribe => self.subscribe(idx, gen, st, Kind::Shard, args),
            PubSubOp::Unsubscribe => self.unsubscribe(idx, st, Kind::Channel, args),
            PubSubOp::PUnsubscribe => self.unsubscribe(idx, st, Kind::Pattern, args),
            PubSubOp::SUnsubscribe => self.unsubscribe(idx, st, Kind::Shard, args),
            PubSubOp::Publish => self.publish(idx, gen, st, false, args),
            PubSubOp::SPublish => self.publish(idx, gen, st, true, args),
            _ => self.introspect(st, op, args),
        }
    }

    fn subscribe(&mut self, idx: u32, gen: u32, st: &mut ConnState<S>, kind: Kind, args: Args<'_>) {
        let mut out = self.pool.get();
        let subs = st.subs.get_or_insert_with(Box::default);
        let mut added = 0;
        {
            let mut dir = self.mesh.directory();
            for name in args.iter().skip(1) {
                if !subs.sets[kind as usize].contains(name) {
                    subs.sets[kind as usize].insert(name.to_vec());
                    self.pubsub.add(kind, name, idx, gen);
                    dir.add(kind, name);
                    added += 1;
                }
                let mut r = Reply::new(&mut out, st.client.resp3);
                r.push(3);
                r.bulk(kind.subscribe_word());
                r.bulk(name);
                r.int(subs.count(kind) as i64);
            }
            self.publish_directory(&dir);
        }
        self.mesh.sub_count(added);
        st.client.subscribed = true;
        st.sync_gate();
        st.push_ready(&out);
        self.pool.put(out);
    }

    /// UNSUBSCRIBE, PUNSUBSCRIBE or SUNSUBSCRIBE: the names given, or every
    /// one of the kind when none is.
    fn unsubscribe(&mut self, idx: u32, st: &mut ConnState<S>, kind: Kind, args: Args<'_>) {
        let mut out = self.pool.get();
        let resp3 = st.client.resp3;
        let mut subs = st.subs.take().unwrap_or_default();
        let names: Vec<Vec<u8>> = if args.len() > 1 {
            args.iter().skip(1).map(<[u8]>::to_vec).collect()
        } else {
            subs.sets[kind as usize].iter().cloned().collect()
        };
        let mut removed = 0;
        {
            let mut dir = self.mesh.directory();
            for name in &names {
                if subs.sets[kind as usize].remove(name.as_slice()) {
                    self.pubsub.remove(kind, name, idx);
                    dir.remove(kind, name);
                    removed += 1;
                }
                let mut r = Reply::new(&mut out, resp3);
                r.push(3);
                r.bulk(kind.unsubscribe_word());
                r.bulk(name);
                r.int(subs.count(kind) as i64);
            }
            self.publish_directory(&dir);
        }
        if names.is_empty() {
            let mut r = Reply::new(&mut out, resp3);
            r.push(3);
            r.bulk(kind.unsubscribe_word());
            r.null();
            r.int(subs.count(kind) as i64);
        }
        self.mesh.sub_count(-removed);
        st.client.subscribed = subs.total() > 0;
        if st.client.subscribed {
            st.subs = Some(subs);
        }
        st.sync_gate();
        st.push_ready(&out);
        self.pool.put(out);
    }

    /// Drops every subscription of a connection, without confirmations
    /// (RESET, and a connection that closes).
    pub(super) fn drop_subs(&mut self, idx: u32, st: &mut ConnState<S>) {
        let Some(subs) = st.subs.take() else {
            return;
        };
        let mut dir = self.mesh.directory();
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in &subs.sets[kind as usize] {
                self.pubsub.remove(kind, name, idx);
                dir.remove(kind, name);
            }
        }
        self.publish_directory(&dir);
        drop(dir);
        self.mesh.sub_count(-(subs.total() as isize));
        st.client.subscribed = false;
        st.pushes = Vec::new();
        st.soft_since = None;
        st.sync_gate();
    }

    /// Keeps INFO's counts in step with the directory (called with it
    /// locked, so the counts follow its changes in order).
    fn publish_directory(&self, dir: &super::pubsub::Directory) {
        use std::sync::atomic::Ordering::Relaxed;
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            self.stats.pubsub[kind as usize].store(dir.len(kind) as u64, Relaxed);
        }
    }

    /// PUBLISH or SPUBLISH: delivers here, asks every other shard with
    /// subscriptions to deliver, and answers the sum of the receivers.
    fn publish(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        sharded: bool,
        args: Args<'_>,
    ) {
        let (channel, message) = (args.get(1), args.get(2));
        // Keyspace events this shard made earlier go out first, so a
        // subscriber sees them in the order they happened.
        if !self.ex.effects.pushes.is_empty() {
            self.deliver_pushes(Some((idx, &mut *st)));
        }
        // Before the reply takes its place, so a RESP3 publisher that is
        // also a subscriber sees the message ahead of the count, as in
        // Redis.
        let local = if self.mesh.has_subs(self.id) {
            self.deliver(self.id, Some((idx, &mut *st)), sharded, channel, message)
        } else {
            0
        };
        // Each shard's count is read once: it may change meanwhile, and
        // the fan-out must expect exactly the parts it sends.
        let mut peers = std::mem::take(&mut self.pub_peers);
        peers.clear();
        peers.extend((0..self.n).filter(|&s| s != self.id && self.mesh.has_subs(s)));
        if peers.is_empty() {
            let mut out = self.pool.get();
            Reply::new(&mut out, st.client.resp3).int(local as i64);
            st.push_ready(&out);
            self.pool.put(out);
            self.pub_peers = peers;
            return;
        }
        let seq = st.next_seq();
        let mut fo = FanOut::new(Fold::Sum, peers.len() + 1);
        let mut count = self.pool.get();
        Reply::new(&mut count, false).int(local as i64);
        fo.add_owned(0, count);
        for (p, &s) in peers.iter().enumerate() {
            let dest = Dest {
                conn: idx,
                gen,
                seq,
                part: p as u32 + 1,
            };
            let b = self.batch(s);
            let (first, n) = b.push_args([channel, message].into_iter());
            b.reqs.push(Req::Publish {
                dest,
                sharded,
                first,
                n,
            });
        }
        self.pub_peers = peers;
        st.await_fan(Box::new(fo));
    }

    /// Tells the commands whether anyone on any shard could receive a
    /// message (`Pushes::listening`).
    pub(super) fn listen(&mut self) {
        let any = (0..self.n).any(|s| self.mesh.has_subs(s));
        self.ex.effects.pushes.set_listening(any);
    }

    /// Delivers the messages this shard's commands made (keyspace events),
    /// in order: here, and one copy each to the other shards with
    /// subscriptions, on the rings that keep them in order. `me` is a
    /// connection of this shard taken out of the table while it runs.
    pub(super) fn deliver_pushes(&mut self, mut me: Option<(u32, &mut ConnState<S>)>) {
        let mut pushes = std::mem::take(&mut self.ex.effects.pushes);
        pushes.drain(|channel, message, sharded| {
            let me_now = me.as_mut().map(|(i, st)| (*i, &mut **st));
            if self.mesh.has_subs(self.id) {
                self.deliver(self.id, me_now, sharded, channel, message);
            }
            for s in 0..self.n {
                if s != self.id && self.mesh.has_subs(s) {
                    let b = self.batch(s);
                    let (first, n) = b.push_args([channel, message].into_iter());
                    b.reqs.push(Req::Notify { first, n, sharded });
                }
            }
        });
        if pushes.has_tracking() {
            self.deliver_tracking(&mut me, &mut pushes);
        }
        self.ex.effects.pushes = pushes;
    }

    /// A peer's keyspace event or script's message: deliver it here.
    pub(super) fn deliver_notice(
        &mut self,
        peer: usize,
        sharded: bool,
        channel: &[u8],
        message: &[u8],
    ) {
        self.deliver(peer, None, sharded, channel, message);
    }

    /// A peer's PUBLISH: deliver here and answer the count.
    pub(super) fn publish_for_peer(
        &mut self,
        peer: usize,
        dest: Dest,
        sharded: bool,
        channel: &[u8],
        message: &[u8],
    ) {
        let count = self.deliver(peer, None, sharded, channel, message);
        let b = self.batch(peer);
        let start = b.rdata.len() as u32;
        let _ = write!(b.rdata, ":{count}\r\n");
        let len = b.rdata.len() as u32 - start;
        b.resps.push(Resp::Reply { dest, start, len });
    }

    /// Delivers a message to this shard's subscribers of `channel` (its
    /// shard-channel subscribers for SPUBLISH) and of every pattern that
    /// matches it; returns how many received it. `me` is the publishing
    /// connection when it is this shard's (taken out of the table while
    /// it runs).
    pub(super) fn deliver(
        &mut self,
        src: usize,
        mut me: Option<(u32, &mut ConnState<S>)>,
        sharded: bool,
        channel: &[u8],
        message: &[u8],
    ) -> u64 {
        let limit = self.svc.pubsub_limit();
        let mut frame = std::mem::take(&mut self.pub_frame);
        let mut count = 0;
        let kind = if sharded { Kind::Shard } else { Kind::Channel };
        if let Some(subs) = self.pubsub.maps[kind as usize].get(channel) {
            frame.clear();
            let mut r = Reply::new(&mut frame, false);
            r.array(3);
            r.bulk(if sharded { b"smessage" } else { b"message" });
            r.bulk(channel);
            r.bulk(message);
            count += push_to(
                &mut self.conns,
                &self.gens,
                &mut self.writes,
                &mut self.pushq,
                &mut self.handoff,
                src,
                &mut me,
                subs,
                &frame,
                limit,
                (self.now_ms, self.now_us),
            );
            self.handoff.stage(&frame);
        }
        if !sharded {
            for (pattern, subs) in &self.pubsub.maps[Kind::Pattern as usize] {
                if !kevy_store::glob::matches(pattern, channel) {
                    continue;
                }
                frame.clear();
                let mut r = Reply::new(&mut frame, false);
                r.array(4);
                r.bulk(b"pmessage");
                r.bulk(pattern);
                r.bulk(channel);
                r.bulk(message);
                count += push_to(
                    &mut self.conns,
                    &self.gens,
                    &mut self.writes,
                    &mut self.pushq,
                    &mut self.handoff,
                    src,
                    &mut me,
                    subs,
                    &frame,
                    limit,
                    (self.now_ms, self.now_us),
                );
                self.handoff.stage(&frame);
            }
        }
        self.send_forwards();
        if frame.capacity() > 1 << 20 {
            frame = Vec::new();
        }
        self.pub_frame = frame;
        count
    }

    /// PUBSUB CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS and SHARDNUMSUB,
    /// answered from the directory.
    fn introspect(&mut self, st: &mut ConnState<S>, op: PubSubOp, args: Args<'_>) {
        let mut out = self.pool.get();
        self.introspect_into(st.client.resp3, op, args, &mut out);
        st.push_ready(&out);
        self.pool.put(out);
    }

    /// [`Self::introspect`]'s answer, appended to `out`.
    pub(super) fn introspect_into(
        &self,
        resp3: bool,
        op: PubSubOp,
        args: Args<'_>,
        out: &mut Vec<u8>,
    ) {
        self.mesh.directory().introspect(resp3, op, args, out);
    }
}

impl Directory {
    /// PUBSUB CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS or SHARDNUMSUB
    /// (`op`, its arguments from argument 2 on), answered into `out`.
    pub(crate) fn introspect(&self, resp3: bool, op: PubSubOp, args: Args<'_>, out: &mut Vec<u8>) {
        let mut r = Reply::new(out, resp3);
        match op {
            PubSubOp::Channels | PubSubOp::ShardChannels => {
                let kind = if op == PubSubOp::Channels {
                    Kind::Channel
                } else {
                    Kind::Shard
                };
                let pattern = (args.len() > 2).then(|| args.get(2));
                let names: Vec<&Vec<u8>> = self.maps[kind as usize]
                    .keys()
                    .filter(|n| pattern.is_none_or(|p| kevy_store::glob::matches(p, n)))
                    .collect();
                r.array(names.len());
                for n in names {
                    r.bulk(n);
                }
            }
            PubSubOp::NumSub | PubSubOp::ShardNumSub => {
                let kind = if op == PubSubOp::NumSub {
                    Kind::Channel
                } else {
                    Kind::Shard
                };
                let names = args.len().saturating_sub(2);
                r.array(names * 2);
                for name in args.iter().skip(2) {
                    r.bulk(name);
                    let n = self.maps[kind as usize].get(name).copied().unwrap_or(0);
                    r.int(n as i64);
                }
            }
            _ => r.int(self.len(Kind::Pattern) as i64),
        }
    }
}

/// Pushes a message frame (framed for RESP2) from shard `src` to every
/// subscriber `(idx, gen)` of `subs`, enforcing the subscriber output
/// limit; returns how many count as receivers. A subscriber not otherwise
/// due for a write joins the push queue; one disconnected by its limit, or
/// holding [`PUSH_FLUSH_BYTES`], is written in this iteration. A
/// subscriber that moved away or is arriving from another shard gets what
/// its handoff says (`reactor/handoff.rs`). `now` is `(unix_ms,
/// monotonic_us)`.
#[allow(clippy::too_many_arguments)]
fn push_to<S: Service>(
    conns: &mut [Option<Box<crate::conn::Conn<S>>>],
    gens: &[u32],
    writes: &mut Vec<u32>,
    pushq: &mut VecDeque<(u32, u32, u64)>,
    handoff: &mut Handoff,
    src: usize,
    me: &mut Option<(u32, &mut ConnState<S>)>,
    subs: &Map<u32, u32>,
    frame: &[u8],
    limit: OutputLimit,
    now: (u64, u64),
) -> u64 {
    let mut count = 0;
    for (&idx, &gen) in subs {
        if let Some((i, st)) = me {
            if *i == idx {
                // The publisher, running: written after its commands.
                count += 1;
                if !st.closing {
                    let first = if st.client.resp3 { b'>' } else { b'*' };
                    st.push_own(first, &frame[1..], limit, now.0);
                }
                continue;
            }
        }
        if gens.get(idx as usize) != Some(&gen) {
            continue;
        }
        let Some(c) = conns.get_mut(idx as usize).and_then(Option::as_mut) else {
            count += handoff.forward(idx, src);
            continue;
        };
        if let Some(m) = c.st.migrating.as_deref_mut() {
            match handoff.gets(m, src) {
                Gets::Nothing => continue,
                Gets::Now => {}
                Gets::Held => {
                    count += 1;
                    if !m.hold(src, frame, limit) && !c.st.closing {
                        c.st.close_over_limit();
                        if !c.in_write {
                            c.in_write = true;
                            writes.push(idx);
                        }
                    }
                    continue;
                }
            }
        }
        // One disconnected by its output limit is still subscribed until it
        // is closed: counted, as Redis counts a client it will free.
        count += 1;
        queue_push(c, idx, gen, frame, limit, now, writes, pushq);
    }
    count
}

impl<S: Service> Reactor<S> {
    /// Writes queued subscribers, oldest first, for one round of
    /// [`PUSH_ROUND_US`] (at least one write), and every one queued
    /// [`PUSH_MAX_DELAY_US`] ago or more; the rest wait for the next
    /// iteration, which comes without sleeping.
    pub(super) fn flush_pushes(&mut self) {
        let t0 = kevy_sys::clock::monotonic_us();
        let mut now = t0;
        while let Some(&(idx, gen, since)) = self.pushq.front() {
            if now.saturating_sub(t0) >= PUSH_ROUND_US
                && now.saturating_sub(since) < PUSH_MAX_DELAY_US
            {
                break;
            }
            self.pushq.pop_front();
            if self.gens.get(idx as usize) != Some(&gen) {
                continue;
            }
            let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
                continue;
            };
            c.in_push = false;
            // Written with the replies this iteration (or held with them
            // for a remote reply), or written since it was queued.
            if c.in_write || c.st.unsent() == 0 {
                continue;
            }
            c.in_write = true;
            if !self.flush_conn(idx) {
                self.close(idx);
            } else if let Some(to) = self.shedding() {
                // As replies do for a worker: a subscriber moves as it is
                // written, not only when a sample finds it idle.
                self.move_if_movable(idx, to);
            }
            now = kevy_sys::clock::monotonic_us();
        }
    }
}
