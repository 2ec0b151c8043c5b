//! Client-side caching on the runtime's side: an invalidation travels from
//! the key's shard to the tracking connection's home, which checks the
//! connection's state there (as Redis checks it when it sends) and frames
//! the message for the protocol of whoever receives it: the connection
//! itself, or the connection it redirects to, on whatever shard that is.
//! The crate doc ("Client-side caching") has the whole design.

use super::executor::{Executor, Wire};
use super::Reactor;
use crate::conn::{Conn, ConnState};
use crate::exec::{Pushes, NO_SEQ};
use crate::msg::Dest;
use crate::msg::Req;
use crate::service::{Service, Tracking};
use kevy_resp::Args;
use std::collections::HashMap;

type Ids = HashMap<u64, u32, ahash::RandomState>;

/// A connection of this shard taken out of the table while it runs.
type Me<'a, 'b, S> = &'a mut Option<(u32, &'b mut ConnState<S>)>;

/// What an invalidation invalidates: keys (a RESP array), or everything
/// (a flush), whose null Redis frames in the tracking connection's
/// protocol even when another connection receives it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Payload<'a> {
    Keys(&'a [u8]),
    Null { resp3: bool },
}

impl<'a> Payload<'a> {
    /// A payload as it travels in a request: one span, or none for null.
    pub fn from_args(a: Args<'a>, resp3: bool) -> Payload<'a> {
        if a.len() == 1 {
            Payload::Keys(a.get(0))
        } else {
            Payload::Null { resp3 }
        }
    }

    fn bytes(&self) -> &'a [u8] {
        match *self {
            Payload::Keys(k) => k,
            Payload::Null { resp3: true } => b"_\r\n",
            Payload::Null { resp3: false } => b"$-1\r\n",
        }
    }
}

/// A RESP3 push: `invalidate` and the payload.
const PUSH: &[u8] = b">2\r\n$10\r\ninvalidate\r\n";
/// A RESP2 pub/sub message on `__redis__:invalidate`, for a redirect
/// target in subscribed mode; the payload is its message.
const MESSAGE: &[u8] = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n";

impl<S: Service> Reactor<S> {
    /// Delivers the tracking messages of `pushes`: reads made by copy go
    /// to their keys' owners, invalidations to their tracking
    /// connections' homes (this shard's are handled at once), and a flush
    /// invalidates everything for every tracking connection here.
    pub(super) fn deliver_tracking(&mut self, me: Me<'_, '_, S>, pushes: &mut Pushes) {
        forward_reads(&mut self.ex, &mut self.mesh, pushes);
        let flushed = pushes.drain_invals(|inv, payload| {
            let home = inv.home as usize;
            if home == self.id {
                let i = (inv.client, inv.writer, inv.bcast, inv.after);
                self.invalidate_here(me, i, payload);
            } else if home < self.n {
                let b = self.batch(home);
                let (first, n) = b.push_args(std::iter::once(payload));
                b.reqs.push(Req::Invalidate {
                    client: inv.client,
                    writer: inv.writer,
                    bcast: inv.bcast,
                    after: inv.after,
                    first,
                    n,
                });
            }
        });
        if flushed {
            self.flush_here(me);
        }
    }

    /// An invalidation `(client, writer, bcast, after)` for `client`, a
    /// tracking connection of this shard (see `Req::Invalidate`). Like
    /// Redis, it is dropped when tracking is off now, in the other mode
    /// (keys read before a switch to broadcasting), or written by the
    /// client itself under NOLOOP. One that follows the reply of the
    /// client's own command, still on its way, waits to go right after it.
    pub(super) fn invalidate_here(
        &mut self,
        me: Me<'_, '_, S>,
        (client, writer, bcast, after): (u64, u64, bool, u64),
        payload: &[u8],
    ) {
        let Some((idx, st)) = conn_mut(&mut self.conns, &self.ids, me, client) else {
            return;
        };
        let (t, resp3) = (st.client.tracking, st.client.resp3);
        if !t.on() || t.has(Tracking::BCAST) != bcast {
            return;
        }
        if !bcast && t.has(Tracking::NOLOOP) && writer == client {
            return;
        }
        let redirect = self.svc.tracking_redirect(&st.session);
        if after != NO_SEQ && redirect.0 == 0 && resp3 && after >= st.done_seq {
            let gen = self.gens[idx as usize];
            let then = self.follows.entry((idx, gen, after)).or_default();
            then.extend_from_slice(PUSH);
            then.extend_from_slice(payload);
            return;
        }
        self.send_tracking(me, client, redirect, resp3, Payload::Keys(payload));
    }

    /// A reply with the messages that follow it (`follows`). A reply
    /// CLIENT REPLY drops goes alone, and the messages after it.
    pub(super) fn deliver_followed(&mut self, dest: Dest, reply: &[u8], then: &[u8]) {
        if let Some(c) = self
            .conns
            .get_mut(dest.conn as usize)
            .and_then(Option::as_mut)
            .filter(|c| c.st.is_muted(dest.seq))
        {
            // The reply is still owed, so the messages wait behind it.
            c.st.push_message(then[0], &then[1..]);
            self.deliver_local(dest, reply);
            return;
        }
        let mut v = self.pool.get();
        v.extend_from_slice(reply);
        v.extend_from_slice(then);
        self.deliver_local(dest, &v);
        self.pool.put(v);
    }

    /// Sends tracking connection `client`'s message (its protocol `resp3`)
    /// where it goes: to itself, which only RESP3 can receive, or to the
    /// connection `redirect` names (client id, home).
    fn send_tracking(
        &mut self,
        me: Me<'_, '_, S>,
        client: u64,
        (target, home): (u64, u32),
        resp3: bool,
        payload: Payload<'_>,
    ) {
        if target == 0 {
            if resp3 {
                self.push_frame(me, client, &[PUSH, payload.bytes()]);
            }
            return;
        }
        let home = home as usize;
        if home == self.id {
            let me_id = self.id;
            self.redirected_here(me, target, client, me_id, payload);
        } else if home < self.n {
            let b = self.batch(home);
            let (first, n) = match payload {
                Payload::Keys(k) => b.push_args(std::iter::once(k)),
                Payload::Null { .. } => b.push_args(std::iter::empty()),
            };
            b.reqs.push(Req::Redirected {
                target,
                tracker: client,
                resp3,
                first,
                n,
            });
        }
    }

    /// A message for `target`, a connection of this shard, from tracking
    /// connection `tracker` of shard `from` that redirects to it: a push
    /// in RESP3, a `__redis__:invalidate` message to a RESP2 subscriber,
    /// nothing otherwise. A target that is gone makes the redirect broken.
    pub(super) fn redirected_here(
        &mut self,
        me: Me<'_, '_, S>,
        target: u64,
        tracker: u64,
        from: usize,
        payload: Payload<'_>,
    ) {
        let Some((_, st)) = conn_mut(&mut self.conns, &self.ids, me, target) else {
            if from == self.id {
                self.redir_broken_here(me, tracker, target);
            } else if from < self.n {
                self.batch(from).reqs.push(Req::RedirBroken {
                    tracker,
                    redirect: target,
                });
            }
            return;
        };
        let head = if st.client.resp3 {
            PUSH
        } else if st.client.subscribed {
            MESSAGE
        } else {
            return;
        };
        self.push_frame(me, target, &[head, payload.bytes()]);
    }

    /// `redirect`, where tracking connection `tracker` of this shard sends
    /// its invalidations, is gone: the tracker's redirect is broken, and a
    /// RESP3 tracker is told so, each time a message is lost, as in Redis.
    pub(super) fn redir_broken_here(&mut self, me: Me<'_, '_, S>, tracker: u64, redirect: u64) {
        let Some((_, st)) = conn_mut(&mut self.conns, &self.ids, me, tracker) else {
            return;
        };
        let now = self.svc.tracking_redirect(&st.session).0;
        let t = &mut st.client.tracking;
        if !t.on() || now != redirect {
            return;
        }
        t.flags |= Tracking::BROKEN;
        if st.client.resp3 {
            let note = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{redirect}\r\n");
            self.push_frame(me, tracker, &[note.as_bytes()]);
        }
    }

    /// A flush on this shard: every tracking connection here is told that
    /// everything is invalid (a null payload).
    fn flush_here(&mut self, me: Me<'_, '_, S>) {
        let svc = &*self.svc;
        let mut trackers: Vec<(u64, (u64, u32), bool)> = self
            .conns
            .iter()
            .flatten()
            .map(|c| &c.st)
            .chain(me.as_ref().map(|(_, st)| &**st))
            .filter(|st| st.client.tracking.on())
            .map(|st| {
                let c = &st.client;
                (c.id, svc.tracking_redirect(&st.session), c.resp3)
            })
            .collect();
        trackers.sort_unstable_by_key(|t| t.0);
        for (id, redirect, resp3) in trackers {
            self.send_tracking(me, id, redirect, resp3, Payload::Null { resp3 });
        }
    }

    /// Appends a message made of `parts` to connection `id` of this shard,
    /// behind the replies it is owed, under the subscriber output limit (a
    /// client that reads no invalidations is disconnected like a
    /// subscriber that reads no messages).
    fn push_frame(&mut self, me: Me<'_, '_, S>, id: u64, parts: &[&[u8]]) {
        let limit = self.svc.pubsub_limit();
        let now_ms = self.now_ms;
        let Some((idx, st)) = conn_mut(&mut self.conns, &self.ids, me, id) else {
            return;
        };
        if st.closing {
            return;
        }
        let mut frame = std::mem::take(&mut self.pub_frame);
        frame.clear();
        for p in parts {
            frame.extend_from_slice(p);
        }
        st.push_limited(frame[0], &frame[1..], limit, now_ms);
        if frame.capacity() > 1 << 20 {
            frame = Vec::new();
        }
        self.pub_frame = frame;
        self.mark_write(idx);
    }
}

/// Connection `id` of this shard, whether in the table or the one taken
/// out of it (`me`), with its slab index.
fn conn_mut<'a, S: Service>(
    conns: &'a mut [Option<Box<Conn<S>>>],
    ids: &Ids,
    me: &'a mut Option<(u32, &mut ConnState<S>)>,
    id: u64,
) -> Option<(u32, &'a mut ConnState<S>)> {
    let idx = *ids.get(&id)?;
    match me {
        Some((i, st)) if *i == idx => Some((idx, &mut **st)),
        _ => conns
            .get_mut(idx as usize)?
            .as_mut()
            .map(|c| (idx, &mut c.st)),
    }
}

/// Sends the reads `pushes` holds (made on a scratch shard) to their keys'
/// owners, recording this shard's at once. The coordinator calls it right
/// after the command ran, so the requests go ahead of the transaction's
/// unlock on every ring: no write of those keys can come in between.
pub(super) fn forward_reads<S: Service>(
    ex: &mut Executor<S>,
    wire: &mut impl Wire<S>,
    pushes: &mut Pushes,
) {
    let (id, slots) = (ex.id, &ex.slots);
    pushes.drain_reads(|client, home, key| {
        let s = slots.shard_of(key);
        if s == id {
            ex.svc.track_read(&mut ex.shard, client, home, key);
        } else {
            let b = wire.batch(s);
            let (first, cnt) = b.push_args(std::iter::once(key));
            b.reqs.push(Req::Track {
                client,
                home,
                first,
                n: cnt,
            });
        }
    });
}
