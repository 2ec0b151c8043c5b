//! Moving a subscribed connection: the cut that hands its subscriptions
//! from the shard it leaves (A) to the shard it joins (B) without losing,
//! repeating or reordering a message. The crate doc ("Moving a
//! subscriber") has the protocol and the argument; this file keeps its
//! state on both sides.
//!
//! A session is the set of subscribers one call moves from A to B
//! together, named `(A, e)` with `e` A's counter. At A, each of them is a
//! [`Proxy`] under its old slot; at B, each carries a [`Migrating`] until
//! every shard's cut has passed.

use super::pubsub::{Kind, Subs};
use super::Reactor;
use crate::conn::Conn;
use crate::msg::Req;
use crate::service::{OutputLimit, Service};
use std::collections::{HashMap, VecDeque};

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// A subscriber that left this shard, while its cut is under way: its
/// registry entries here stay under its old slot and forward to `to`.
pub(super) struct Proxy {
    id: u64,
    e: u32,
    subs: Box<Subs>,
}

/// A move from this shard (A's side of a session).
struct Outgoing {
    to: usize,
    /// Shards whose cut reached here: their messages no longer go through.
    cut: Vec<bool>,
    left: usize,
    slots: Vec<u32>,
}

/// A move into this shard (B's side of a session).
struct Incoming {
    /// Shards whose `CutDirect` arrived: their messages count here.
    direct: Vec<bool>,
    /// Shards whose `CutFwd` arrived: nothing of theirs comes by A any more.
    fwd: Vec<bool>,
    left: usize,
    guests: Vec<(u32, u32)>,
}

/// A moved subscriber's state at its new home until its session ends:
/// which session, and the messages held for it (frames framed for RESP2,
/// with the shard each came from).
pub(crate) struct Migrating {
    from: u32,
    e: u32,
    held: Vec<(u32, u32, u32)>,
    bytes: Vec<u8>,
}

/// What a moved subscriber gets of a message from shard `src` at its new
/// home.
pub(super) enum Gets {
    /// Nothing here: the old home forwards it.
    Nothing,
    /// Held until the old home has forwarded all that came before.
    Held,
    /// Delivered now.
    Now,
}

#[derive(Default)]
pub(super) struct Handoff {
    next: u32,
    out: Map<u32, Outgoing>,
    proxies: Map<u32, Proxy>,
    incoming: Map<(u32, u32), Incoming>,
    /// Sessions whose subscribers arrived in the batch being handled.
    starting: Vec<(u32, u32)>,
    /// Forwards a delivery found: `(to, client id)`, for the frame being
    /// delivered.
    found: Vec<(usize, u64)>,
    /// Frames with forwards to send: `(to, frame start, frame len, ids
    /// start, ids len)` into `frames` and `fids`.
    staged: Vec<(usize, usize, usize, usize, usize)>,
    frames: Vec<u8>,
    fids: Vec<u8>,
}

impl Handoff {
    /// No session, proxy or forward is left (the simulation checks it
    /// once everything settled).
    #[cfg(test)]
    pub fn is_idle(&self) -> bool {
        self.out.is_empty()
            && self.proxies.is_empty()
            && self.incoming.is_empty()
            && self.starting.is_empty()
            && self.staged.is_empty()
    }

    pub fn starting_empty(&self) -> bool {
        self.starting.is_empty()
    }

    /// A subscriber under slot `idx` that moved away: counts and records
    /// a forward of the message from `src`, unless that shard's cut has
    /// passed. Returns how many it reached (0 or 1).
    pub fn forward(&mut self, idx: u32, src: usize) -> u64 {
        let Some(p) = self.proxies.get(&idx) else {
            return 0;
        };
        let Some(o) = self.out.get(&p.e) else {
            return 0;
        };
        if o.cut[src] {
            return 0;
        }
        self.found.push((o.to, p.id));
        1
    }

    /// Keeps the forwards found for `frame` to send after the delivery.
    pub fn stage(&mut self, frame: &[u8]) {
        if self.found.is_empty() {
            return;
        }
        self.found.sort_unstable_by_key(|&(to, _)| to);
        let mut i = 0;
        while i < self.found.len() {
            let to = self.found[i].0;
            let fs = self.frames.len();
            self.frames.extend_from_slice(frame);
            let is = self.fids.len();
            while i < self.found.len() && self.found[i].0 == to {
                self.fids.extend_from_slice(&self.found[i].1.to_le_bytes());
                i += 1;
            }
            self.staged
                .push((to, fs, frame.len(), is, self.fids.len() - is));
        }
        self.found.clear();
    }

    /// What a moved subscriber gets of a message from `src` (B's rule).
    pub fn gets(&self, m: &Migrating, src: usize) -> Gets {
        let Some(s) = self.incoming.get(&(m.from, m.e)) else {
            return Gets::Now;
        };
        match (s.direct[src], s.fwd[src]) {
            (false, _) => Gets::Nothing,
            (true, false) => Gets::Held,
            (true, true) => Gets::Now,
        }
    }
}

impl Migrating {
    /// Holds a message frame from `src`; false when what it holds reached
    /// the hard output limit.
    pub fn hold(&mut self, src: usize, frame: &[u8], limit: OutputLimit) -> bool {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(frame);
        self.held.push((src as u32, start, frame.len() as u32));
        limit.hard == 0 || self.bytes.len() < limit.hard
    }
}

impl<S: Service> Reactor<S> {
    /// Opens a session for subscribers moving to `to`.
    pub(super) fn open_handoff(&mut self, to: usize) -> u32 {
        let h = &mut self.handoff;
        let e = h.next;
        h.next = h.next.wrapping_add(1);
        h.out.insert(
            e,
            Outgoing {
                to,
                cut: vec![false; self.n],
                left: self.n,
                slots: Vec::new(),
            },
        );
        e
    }

    /// Leaves a proxy under slot `idx` for subscriber `c`, moving in
    /// session `e`, and marks it as migrating. Its slot and generation
    /// stay, so the registry's entries name the proxy.
    pub(super) fn leave_proxy(&mut self, idx: u32, e: u32, c: &mut Conn<S>) {
        let subs = c.st.subs.as_deref().cloned().unwrap_or_default();
        let h = &mut self.handoff;
        if let Some(o) = h.out.get_mut(&e) {
            o.slots.push(idx);
        }
        h.proxies.insert(
            idx,
            Proxy {
                id: c.st.client.id,
                e,
                subs: Box::new(subs),
            },
        );
        c.st.migrating = Some(Box::new(Migrating {
            from: self.id as u32,
            e,
            held: Vec::new(),
            bytes: Vec::new(),
        }));
    }

    /// A moved subscriber entered this shard's table at `idx`: its
    /// subscriptions join the registry, and its session starts once the
    /// batch's connections are all in.
    pub(super) fn arrive(&mut self, idx: u32, gen: u32, c: &Conn<S>) {
        let (Some(m), Some(subs)) = (c.st.migrating.as_deref(), c.st.subs.as_deref()) else {
            return;
        };
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in &subs.sets[kind as usize] {
                self.pubsub.add(kind, name, idx, gen);
            }
        }
        self.mesh.sub_count(subs.total() as isize);
        let key = (m.from, m.e);
        let n = self.n;
        let s = self
            .handoff
            .incoming
            .entry(key)
            .or_insert_with(|| Incoming {
                direct: vec![false; n],
                fwd: vec![false; n],
                left: 2 * n,
                guests: Vec::new(),
            });
        if s.guests.is_empty() {
            self.handoff.starting.push(key);
        }
        s.guests.push((idx, gen));
    }

    /// Starts the cuts of the sessions whose subscribers just arrived:
    /// this shard's own cut, and a request to every other shard.
    pub(super) fn start_cuts(&mut self) {
        for (from, e) in std::mem::take(&mut self.handoff.starting) {
            let a = from as usize;
            // This shard's cut: its messages count here from now on, and
            // its `Cut` goes to A behind every message it sent there.
            self.cut_direct(a, e, self.id);
            self.batch(a).reqs.push(Req::Cut { e });
            let me = self.id;
            for x in (0..self.n).filter(|&x| x != me) {
                self.batch(x).reqs.push(Req::CutAsk { from, e });
            }
        }
    }

    /// `CutAsk` from B (`peer`) for A's session `e`: this shard's cut,
    /// sent both ways in one step.
    pub(super) fn cut_ask(&mut self, peer: usize, from: usize, e: u32) {
        if from == self.id {
            self.cut_at_source(self.id, e);
        } else {
            self.batch(from).reqs.push(Req::Cut { e });
        }
        self.batch(peer).reqs.push(Req::CutDirect {
            from: from as u32,
            e,
        });
    }

    /// Shard `x`'s cut reached A (this shard) for session `e`: its later
    /// messages are not forwarded, and B learns it behind the earlier
    /// ones. The last cut drops the proxies.
    pub(super) fn cut_at_source(&mut self, x: usize, e: u32) {
        let Some(o) = self.handoff.out.get_mut(&e) else {
            return;
        };
        if !o.cut[x] {
            o.cut[x] = true;
            o.left -= 1;
        }
        let to = o.to;
        let done = o.left == 0;
        self.batch(to).reqs.push(Req::CutFwd { x: x as u32, e });
        if !done {
            return;
        }
        let o = self.handoff.out.remove(&e).expect("session");
        let mut total = 0;
        for idx in o.slots {
            let Some(p) = self.handoff.proxies.remove(&idx) else {
                continue;
            };
            for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
                for name in &p.subs.sets[kind as usize] {
                    self.pubsub.remove(kind, name, idx);
                }
            }
            total += p.subs.total();
            self.gens[idx as usize] = self.gens[idx as usize].wrapping_add(1);
            self.free.push(idx);
        }
        self.mesh.sub_count(-(total as isize));
    }

    /// `CutDirect` from `x` at B: `x`'s messages count here from now on.
    pub(super) fn cut_direct(&mut self, from: usize, e: u32, x: usize) {
        if let Some(s) = self.handoff.incoming.get_mut(&(from as u32, e)) {
            if !s.direct[x] {
                s.direct[x] = true;
                s.left -= 1;
            }
        }
        self.maybe_settle(from as u32, e);
    }

    /// `CutFwd` from A at B: every message of `x` that A forwarded has
    /// arrived, so what was held of `x`'s goes out, in order.
    pub(super) fn cut_fwd(&mut self, from: usize, x: usize, e: u32) {
        let key = (from as u32, e);
        let Some(s) = self.handoff.incoming.get_mut(&key) else {
            return;
        };
        if !s.fwd[x] {
            s.fwd[x] = true;
            s.left -= 1;
        }
        let guests = std::mem::take(&mut s.guests);
        for &(idx, gen) in &guests {
            if self.gens.get(idx as usize) != Some(&gen) {
                continue;
            }
            let Some(mut m) = self
                .conns
                .get_mut(idx as usize)
                .and_then(Option::as_mut)
                .and_then(|c| c.st.migrating.take())
            else {
                continue;
            };
            let (out, rest): (Vec<_>, Vec<_>) =
                m.held.iter().partition(|&&(src, _, _)| src as usize == x);
            for (_, start, len) in out {
                self.push_message(idx, gen, &m.bytes[start as usize..(start + len) as usize]);
            }
            m.held = rest;
            if m.held.is_empty() {
                m.bytes.clear();
            }
            if let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) {
                c.st.migrating = Some(m);
            }
        }
        if let Some(s) = self.handoff.incoming.get_mut(&key) {
            s.guests = guests;
        }
        self.maybe_settle(from as u32, e);
    }

    /// Ends session `(from, e)` at B once every cut passed both ways: its
    /// subscribers are ordinary subscribers of this shard, and run what
    /// they sent meanwhile.
    fn maybe_settle(&mut self, from: u32, e: u32) {
        let Some(s) = self.handoff.incoming.get(&(from, e)) else {
            return;
        };
        if s.left != 0 {
            return;
        }
        let s = self.handoff.incoming.remove(&(from, e)).expect("session");
        for (idx, gen) in s.guests {
            if self.gens.get(idx as usize) != Some(&gen) {
                continue;
            }
            let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
                continue;
            };
            c.st.migrating = None;
            if c.io.rpos < c.io.rend && !c.io.partial && !c.in_ready && c.st.can_run() {
                c.in_ready = true;
                self.ready.push(idx);
            }
        }
    }

    /// Sends the forwards staged by deliveries.
    pub(super) fn send_forwards(&mut self) {
        if self.handoff.staged.is_empty() {
            return;
        }
        let staged = std::mem::take(&mut self.handoff.staged);
        let frames = std::mem::take(&mut self.handoff.frames);
        let fids = std::mem::take(&mut self.handoff.fids);
        for &(to, fs, fl, is, il) in &staged {
            let b = self.batch(to);
            let (first, n) = b.push_args([&frames[fs..fs + fl], &fids[is..is + il]].into_iter());
            b.reqs.push(Req::Forward { first, n });
        }
        let h = &mut self.handoff;
        h.staged = staged;
        h.staged.clear();
        h.frames = frames;
        h.frames.clear();
        h.fids = fids;
        h.fids.clear();
    }

    /// `Forward` at B: a message A delivered to subscribers that moved
    /// here, by client id.
    pub(super) fn forwarded(&mut self, frame: &[u8], ids: &[u8]) {
        for id in ids.chunks_exact(8) {
            let id = u64::from_le_bytes(id.try_into().expect("8 bytes"));
            if let Some(&idx) = self.ids.get(&id) {
                self.push_message(idx, self.gens[idx as usize], frame);
            }
        }
    }

    /// Pushes a message frame to this shard's connection `idx` (see
    /// [`queue_push`]).
    fn push_message(&mut self, idx: u32, gen: u32, frame: &[u8]) {
        let limit = self.svc.pubsub_limit();
        if let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) {
            queue_push(
                c,
                idx,
                gen,
                frame,
                limit,
                (self.now_ms, self.now_us),
                &mut self.writes,
                &mut self.pushq,
            );
        }
    }
}

/// Pushes a message frame (framed for RESP2) to subscriber `c` under the
/// output limit, and queues it to be written: now when it is closing or
/// holds [`super::pubsub::PUSH_FLUSH_BYTES`], else in the push queue.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn queue_push<S: Service>(
    c: &mut Conn<S>,
    idx: u32,
    gen: u32,
    frame: &[u8],
    limit: OutputLimit,
    (now_ms, now_us): (u64, u64),
    writes: &mut Vec<u32>,
    pushq: &mut VecDeque<(u32, u32, u64)>,
) {
    if !c.st.closing {
        let first = if c.st.client.resp3 { b'>' } else { b'*' };
        c.st.push_limited(first, &frame[1..], limit, now_ms);
    }
    if c.in_write {
        return;
    }
    if c.st.closing || c.st.unsent() >= super::pubsub::PUSH_FLUSH_BYTES {
        c.in_write = true;
        writes.push(idx);
    } else if !c.in_push {
        c.in_push = true;
        pushq.push_back((idx, gen, now_us));
    }
}
