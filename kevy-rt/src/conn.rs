//! A client connection as its home reactor keeps it: the socket and read
//! buffer (`ConnIo`), and the reply side (`ConnState`): the output buffer
//! plus one slot per outstanding command, drained strictly in sequence.

use crate::fold::FanOut;
use crate::service::{ClientCtx, OutputLimit, Service};
use kevy_resp::{OwnedArgs, Parser};
use kevy_sys::{Interest, TcpStream};
use std::collections::VecDeque;

/// Commands one connection may run per loop iteration.
pub const CMD_BUDGET: usize = 1024;
/// Output above which the connection is not read (back-pressure on a
/// client that does not read its replies). It counts unsent bytes, complete
/// replies waiting behind earlier ones, and an estimate of the replies still
/// travelling from other shards, so the limit holds whichever shard owns
/// the keys.
pub const OUTPUT_SOFT_LIMIT: usize = 4 << 20;
/// What a reply still to come from another shard is assumed to weigh
/// before any has arrived: high enough that a client pipelining reads of
/// big values on another shard sends only a few dozen before the first
/// reply shows their real size, low enough not to throttle a pipeline of
/// small replies for more than one round trip.
const FIRST_REPLY_ESTIMATE: usize = 256 * 1024;
/// Outstanding (unanswered) commands above which the connection is not read.
pub const MAX_PENDING: usize = 16 * 1024;
/// Redis's `client-query-buffer-limit` default.
pub const QUERY_BUF_LIMIT: usize = 1 << 30;
/// Smallest free space offered to `read`.
pub const READ_CHUNK: usize = 16 * 1024;

/// An outstanding reply (one per command not yet written, in sequence).
pub(crate) enum Pending {
    /// One reply, not yet in; `true` when it comes from another shard (and
    /// counts towards the connection's output estimate).
    Wait(bool),
    /// Parts of a fanned-out command, some not yet in.
    Fan(Box<FanOut>),
    /// Complete, waiting for earlier replies: `parked[at..at + len]`.
    Ready { at: u32, len: u32 },
}

pub(crate) struct ConnIo {
    pub stream: TcpStream,
    /// Read buffer. Its length is its allocated size (zeroed once, when it
    /// grows), so reading never re-initialises memory; `rend` marks the end
    /// of the bytes received.
    pub rbuf: Vec<u8>,
    /// Bytes of `rbuf` already parsed.
    pub rpos: usize,
    /// Bytes of `rbuf` received.
    pub rend: usize,
    pub parser: Parser,
    /// Registered epoll interest; `None` while not registered.
    pub interest: Option<Interest>,
    /// The peer closed its side.
    pub eof: bool,
    /// The input left in `rbuf` is an incomplete command: nothing runs
    /// until more arrives (whose read clears it and hands the connection
    /// to the ready list).
    pub partial: bool,
    /// Commands in the buffer, after the one parsed last, whose keys were
    /// hinted to the cache already (the pipeline look-ahead): the next
    /// look comes after they ran. Kept across calls, since a connection
    /// whose transaction holds it back runs one command per call.
    pub hinted: usize,
}

impl ConnIo {
    /// Makes room for at least `READ_CHUNK` more bytes, first by dropping
    /// parsed bytes, then by growing: doubling while the parser is inside a
    /// command bigger than the buffer (so a big argument costs linear
    /// copying), by one chunk when the buffer holds input not yet parsed.
    /// That input is parsed before any more is needed, and a client that
    /// pipelines faster than its commands run (its replies held back by the
    /// output limit) keeps its backlog in the kernel, which back-pressures
    /// it, instead of having it pulled into a buffer that doubles per read.
    pub fn make_room(&mut self) {
        if self.rpos == self.rend && self.rbuf.len() > 64 * READ_CHUNK {
            // A big request is done: give its memory back.
            self.rbuf = vec![0; READ_CHUNK];
            self.rpos = 0;
            self.rend = 0;
        }
        if self.rpos > 0 && (self.rpos == self.rend || self.rbuf.len() - self.rend < READ_CHUNK) {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        if self.rbuf.len() - self.rend < READ_CHUNK {
            let len = self.rbuf.len();
            let new_len = if self.parser.in_frame() {
                (len * 2).max(READ_CHUNK)
            } else {
                len + READ_CHUNK
            };
            self.rbuf.resize(new_len, 0);
        }
    }
}

pub(crate) struct ConnState<S: Service> {
    pub client: ClientCtx,
    pub session: S::Session,
    pub wbuf: Vec<u8>,
    /// Bytes of `wbuf` already written.
    pub wpos: usize,
    /// Sequence number of `slots[0]`; everything before it is in `wbuf`.
    pub done_seq: u64,
    slots: VecDeque<Pending>,
    /// The bytes of replies complete but waiting behind earlier ones, one
    /// buffer for all of them (emptied when no reply is outstanding,
    /// compacted when mostly spent), so a reply that arrives out of order
    /// costs a copy, not an allocation.
    pub parked: Vec<u8>,
    /// Bytes of complete replies held in `slots`.
    held: usize,
    /// Replies (or fan-outs) still travelling from other shards.
    remote: usize,
    /// Running estimate of one remote reply's size: rises at once to a
    /// bigger reply, decays slowly.
    reply_est: usize,
    /// The last command dispatched (CLIENT LIST's `cmd`).
    pub last_cmd: Option<S::Cmd>,
    /// `unix_ms` of the last iteration that ran its commands (`idle`).
    pub last_active_ms: u64,
    /// A MONITOR connection.
    pub monitor: bool,
    /// When its output started waiting for a remote reply (coalescing).
    pub held_since: Option<u64>,
    /// Its latest requests, when they are split commands on one key plan
    /// (crate doc, "Riders"): what lets its next one ride.
    pub chain: Option<Chain>,
    /// A command of it rides transaction `ride` (its slot), which has not
    /// sent everything yet: only the same command on the same keys
    /// (`ride_key`) may run meanwhile.
    pub ride: Option<u32>,
    pub ride_key: Vec<u8>,
    /// Its latest requests, from sequence number `.1` on, are one shared
    /// read (group `.0`) and its sharers (crate doc, "Shared reads").
    pub share: Option<(u64, u64)>,
    /// Its next command is another: it waits until `ride` has sent
    /// everything.
    pub ride_held: bool,
    /// Flush, then close (QUIT, protocol error).
    pub closing: bool,
    /// Closed by its output-buffer limit: the output it held then, for
    /// the log line written when it is freed (0: not).
    pub over_limit_bytes: usize,
    /// A transaction is in flight; read nothing more until it ends.
    pub blocked: bool,
    /// Between MULTI and EXEC: the queued commands.
    pub multi: Option<MultiQueue<S>>,
    /// WATCHed keys: `(database, key)`.
    pub watched: Vec<(u32, Vec<u8>)>,
    /// Its subscriptions, once it has subscribed (`reactor/pubsub.rs`).
    pub subs: Option<Box<crate::reactor::Subs>>,
    /// Pub/sub messages that arrived while replies were outstanding: they
    /// go out once every reply owed before them is written, so a message
    /// never overtakes the confirmation of its own SUBSCRIBE.
    pub pushes: Vec<u8>,
    /// When its output first reached the subscriber soft limit, while it
    /// stays there (`OutputLimit`).
    pub soft_since: Option<u64>,
    /// Commands take the slow path in `dispatch`: between MULTI and EXEC,
    /// subscribed in RESP2, right after CLIENT CACHING, or checked by the
    /// service's access control. One flag, so the common path tests one
    /// thing.
    pub gate: bool,
    /// Blocked in a command that waits on keys.
    pub waiting: Option<Waiting>,
    /// CLIENT REPLY OFF: replies are dropped until CLIENT REPLY ON.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: the next command's reply is dropped.
    pub skip_next: bool,
    /// Sequence numbers of dropped replies still on their way from other
    /// shards (CLIENT REPLY); `None` while there are none.
    #[allow(clippy::box_collection)]
    muted: Option<Box<Vec<u64>>>,
    /// The connection's own messages (a PUBLISH to a channel it is
    /// subscribed to, the events of its own commands) wait in `pushes`
    /// until the command's reply is placed: EXEC's whole array, or a reply
    /// CLIENT REPLY drops (which must not drop them).
    pub defer_own: bool,
    /// Held by CLIENT PAUSE or a slot move: its next command waits in the
    /// read buffer.
    pub paused: bool,
    /// Held by CLIENT PAUSE, and counted in `blocked_clients`.
    pub pause_blocked: bool,
    /// A subscriber that moved here while its handoff's cut is under way
    /// (`reactor/handoff.rs`): its commands wait.
    pub migrating: Option<Box<crate::reactor::Migrating>>,
}

/// A connection blocked in a command that waits on keys (crate doc,
/// "Blocking"): it runs nothing more until that command is answered.
#[derive(Debug)]
pub(crate) struct Waiting {
    /// The blocked command's sequence number.
    pub seq: u64,
    /// The shards whose keys it waits on: one, or each owner of the keys
    /// of a pop whose keys span shards.
    /// One pointer, so the connection state stays as small as with one
    /// owner: a larger `ConnState` costs instructions on every GET/SET.
    #[allow(clippy::box_collection)]
    pub owners: Box<Vec<usize>>,
    /// `monotonic_us` at which it times out (`u64::MAX`: never).
    pub deadline_us: u64,
    /// The owner serves it now: its reply is on the way, and neither a
    /// timeout nor CLIENT UNBLOCK ends the wait.
    pub claimed: bool,
}

/// Commands queued between MULTI and EXEC.
pub(crate) struct MultiQueue<S: Service> {
    pub cmds: Vec<(S::Cmd, OwnedArgs)>,
    /// Bytes the queue holds; above [`QUERY_BUF_LIMIT`] the connection is
    /// closed, as for a query buffer that large.
    pub bytes: usize,
    /// A queue-time error happened: EXEC answers EXECABORT.
    pub aborted: bool,
}

pub(crate) struct Conn<S: Service> {
    pub io: ConnIo,
    pub st: ConnState<S>,
    /// Listed in the reactor's ready list (has input to parse).
    pub in_ready: bool,
    /// Listed in the reactor's write list.
    pub in_write: bool,
    /// Listed in the reactor's push queue (output that holds only pushed
    /// messages, written after the replies).
    pub in_push: bool,
}

impl<S: Service> Conn<S> {
    /// Idle: no input to parse or being read and nothing in flight
    /// ([`ConnState::movable`]), so it may move to another shard. Output
    /// not yet written goes with it (a subscriber under a flood of
    /// messages always has some), written first at its new home.
    pub fn movable(&self) -> bool {
        let busy = self.in_ready
            || self.io.rpos != self.io.rend
            || self.io.partial
            || self.io.eof
            || self.io.parser.in_frame()
            || self.io.interest.is_none();
        !busy && self.st.movable()
    }
}

/// A run of a connection's latest requests that are split commands on one
/// key plan, each a transaction of coordinator `home` or a rider of one
/// (crate doc, "Riders").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    pub home: u32,
    /// The key plan's digest.
    pub digest: u64,
    /// Sequence numbers of the run: `from..next`.
    pub from: u64,
    pub next: u64,
}

impl Chain {
    /// Request `seq`, a split command on plan `digest` of coordinator
    /// `home`, extends `chain` when it follows its run on the same plan,
    /// and starts a new run otherwise.
    pub fn extend(chain: &mut Option<Chain>, home: u32, digest: u64, seq: u64) {
        match chain {
            Some(c) if c.home == home && c.digest == digest && c.next == seq => c.next = seq + 1,
            _ => {
                *chain = Some(Chain {
                    home,
                    digest,
                    from: seq,
                    next: seq + 1,
                })
            }
        }
    }

    /// Whether request `seq`, whose connection owes replies from `done`
    /// on, may ride a transaction of coordinator `home` on plan `digest`:
    /// it owes nothing earlier, or every reply it owes is of its run on
    /// that plan.
    pub fn lets_ride(chain: &Option<Chain>, home: u32, digest: u64, seq: u64, done: u64) -> bool {
        done == seq
            || chain.is_some_and(|c| {
                c.home == home && c.digest == digest && c.next == seq && done >= c.from
            })
    }
}

impl<S: Service> ConnState<S> {
    pub fn new(client: ClientCtx) -> Self {
        ConnState {
            client,
            session: S::Session::default(),
            wbuf: Vec::with_capacity(READ_CHUNK),
            wpos: 0,
            done_seq: 0,
            slots: VecDeque::new(),
            parked: Vec::new(),
            held: 0,
            remote: 0,
            reply_est: FIRST_REPLY_ESTIMATE,
            held_since: None,
            last_cmd: None,
            last_active_ms: client.created_ms,
            monitor: false,
            closing: false,
            over_limit_bytes: 0,
            blocked: false,
            multi: None,
            watched: Vec::new(),
            subs: None,
            pushes: Vec::new(),
            soft_since: None,
            gate: false,
            waiting: None,
            reply_off: false,
            skip_next: false,
            muted: None,
            paused: false,
            pause_blocked: false,
            defer_own: false,
            migrating: None,
            chain: None,
            ride: None,
            ride_key: Vec::new(),
            share: None,
            ride_held: false,
        }
    }

    /// Nothing in flight and no state another shard addresses by this
    /// connection's home: it may move to another shard (crate doc, "Moving
    /// connections to the cores that have time").
    pub fn movable(&self) -> bool {
        self.slots.is_empty()
            && self.parked.is_empty()
            && self.remote == 0
            && self.held_since.is_none()
            && self.pushes.is_empty()
            && self.muted.is_none()
            && self.soft_since.is_none()
            && self.multi.is_none()
            && self.watched.is_empty()
            && self.waiting.is_none()
            && self.migrating.is_none()
            && !(self.blocked
                || self.monitor
                || self.closing
                || self.paused
                || self.client.tracking.on())
    }

    /// Recomputes [`Self::gate`] after MULTI, a subscription, the
    /// protocol, CLIENT CACHING's flag or the access check changed.
    pub fn sync_gate(&mut self) {
        self.gate = self.client.checked
            || self.multi.is_some()
            || (self.client.subscribed && !self.client.resp3)
            || self.client.tracking.has(crate::service::Tracking::CACHING)
            || self.reply_off
            || self.skip_next;
    }

    /// Starts or ends MULTI.
    pub fn set_multi(&mut self, q: Option<MultiQueue<S>>) {
        self.multi = q;
        self.sync_gate();
    }

    /// Ends MULTI, returning its queue.
    pub fn take_multi(&mut self) -> Option<MultiQueue<S>> {
        let q = self.multi.take();
        self.sync_gate();
        q
    }

    /// Appends a pub/sub message: to the output when no reply is owed,
    /// else behind the owed replies.
    /// The frame is `first` then `rest` (its type byte set apart, so one
    /// frame serves both protocols).
    pub fn push_message(&mut self, first: u8, rest: &[u8]) {
        if self.slots.is_empty() || self.only_waits() && self.pushes.is_empty() {
            if self.wbuf.len() + 1 + rest.len() > self.wbuf.capacity() {
                grow_out(&mut self.wbuf, &mut self.wpos, 1 + rest.len());
            }
            self.wbuf.push(first);
            self.wbuf.extend_from_slice(rest);
        } else {
            self.pushes.push(first);
            self.pushes.extend_from_slice(rest);
        }
    }

    /// Queues a pushed message (pub/sub, an invalidation) and, when the
    /// output then breaks `limit`, disconnects the connection as Redis's
    /// output-buffer limits do, dropping everything it is still owed.
    pub fn push_limited(&mut self, first: u8, rest: &[u8], limit: OutputLimit, now_ms: u64) {
        self.push_message(first, rest);
        if self.over_limit(limit, now_ms) {
            self.close_over_limit();
        }
    }

    /// Whether the one reply owed is a blocked command's that nothing
    /// serves yet: a message then goes out at once, ahead of it, as Redis
    /// writes messages to a client while it waits.
    fn only_waits(&self) -> bool {
        self.slots.len() == 1
            && self
                .waiting
                .as_ref()
                .is_some_and(|w| !w.claimed && w.seq == self.done_seq)
    }

    /// A message for the connection from its own running command: held
    /// while [`Self::defer_own`] says so, else as any message.
    pub fn push_own(&mut self, first: u8, rest: &[u8], limit: OutputLimit, now_ms: u64) {
        if self.defer_own {
            self.pushes.push(first);
            self.pushes.extend_from_slice(rest);
        } else {
            self.push_limited(first, rest, limit, now_ms);
        }
    }

    /// Ends [`Self::defer_own`]: the held messages follow the reply placed
    /// last, at once when no reply is owed before them.
    pub fn end_defer_own(&mut self) {
        self.defer_own = false;
        if self.slots.is_empty() && !self.pushes.is_empty() {
            self.release_pushes();
        }
    }

    /// Whether the reply of command `seq` is to be dropped (CLIENT REPLY).
    pub fn is_muted(&self, seq: u64) -> bool {
        self.muted.as_ref().is_some_and(|m| m.contains(&seq))
    }

    /// Closes a subscriber whose output broke its limit, as Redis does:
    /// what it still had to write is dropped, and the reactor logs it
    /// ([`Service::output_limit_closed`]) when it frees the connection.
    pub fn close_over_limit(&mut self) {
        self.over_limit_bytes = self.output_weight().max(1);
        self.closing = true;
        self.wbuf = Vec::new();
        self.wpos = 0;
        self.pushes = Vec::new();
    }

    /// Whether a subscriber's output broke `limit` (Redis's
    /// `checkClientOutputBufferLimits`): at or above the hard limit, or at
    /// or above the soft limit for longer than its seconds, continuously.
    pub fn over_limit(&mut self, limit: OutputLimit, now_ms: u64) -> bool {
        let used = self.unsent() + self.held + self.pushes.len();
        if limit.hard != 0 && used >= limit.hard {
            return true;
        }
        if limit.soft != 0 && used >= limit.soft {
            let since = *self.soft_since.get_or_insert(now_ms);
            return now_ms.saturating_sub(since) > limit.soft_secs * 1000;
        }
        self.soft_since = None;
        false
    }

    /// The sequence number the next command gets.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.done_seq + self.slots.len() as u64
    }

    #[inline]
    pub fn unsent(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Whether more commands may be parsed and run now.
    #[inline]
    pub fn can_run(&self) -> bool {
        !self.blocked
            && !self.ride_held
            && self.waiting.is_none()
            && self.migrating.is_none()
            && self.can_read()
    }

    /// Whether the socket may be read. A connection waiting for its
    /// transaction still reads (into its query buffer, as Redis does for a
    /// blocked client): the wait is short, and dropping and re-adding its
    /// epoll interest would cost two syscalls per transaction.
    #[inline]
    pub fn can_read(&self) -> bool {
        !self.closing && self.output_weight() < OUTPUT_SOFT_LIMIT && self.slots.len() < MAX_PENDING
    }

    /// Output the connection holds or will hold for replies already owed:
    /// what `can_read` limits, and CLIENT LIST's `omem`.
    #[inline]
    pub fn output_weight(&self) -> usize {
        self.unsent() + self.held + self.pushes.len() + self.remote * self.reply_est
    }

    /// Whether no reply is outstanding (the next one may go straight out).
    #[inline]
    pub fn nothing_pending(&self) -> bool {
        self.slots.is_empty()
    }

    /// Commands whose replies are not yet written to the output buffer.
    #[inline]
    pub fn pending_count(&self) -> usize {
        self.slots.len()
    }

    /// Whether a reply from another shard is still on its way.
    #[inline]
    pub fn awaits_remote(&self) -> bool {
        self.remote > 0
    }

    /// Takes the next sequence number for a reply another shard sends.
    pub fn await_remote(&mut self) {
        self.remote += 1;
        self.slots.push_back(Pending::Wait(true));
    }

    /// Takes the next sequence number for a reply that waits for something
    /// on this shard (a lock), not a message.
    pub fn await_local(&mut self) {
        self.slots.push_back(Pending::Wait(false));
    }

    /// Takes the next sequence number for a command fanned out to shards.
    pub fn await_fan(&mut self, fo: Box<FanOut>) {
        self.remote += 1;
        self.slots.push_back(Pending::Fan(fo));
    }

    /// Makes room for `more` parked bytes, as the output buffer grows
    /// ([`grow_big`]).
    #[inline]
    pub fn reserve_parked(&mut self, more: usize) {
        if self.parked.len() + more > self.parked.capacity() {
            grow_big(&mut self.parked, more);
        }
    }

    /// Queues, behind the outstanding replies, the complete reply written
    /// to `parked` from `start` on (the caller checked that some are
    /// outstanding).
    pub fn park_since(&mut self, start: usize) {
        let len = self.parked.len() - start;
        self.held += len;
        self.slots.push_back(Pending::Ready {
            at: start as u32,
            len: len as u32,
        });
    }

    /// Appends a complete reply for the next sequence number: straight to
    /// the output when nothing is outstanding, else parked in a slot.
    pub fn push_ready(&mut self, reply: &[u8]) {
        if self.slots.is_empty() {
            self.put_out(reply);
            self.done_seq += 1;
        } else {
            self.reserve_parked(reply.len());
            let start = self.parked.len();
            self.parked.extend_from_slice(reply);
            self.park_since(start);
        }
    }

    /// Appends to the output buffer (see [`append_out`]).
    #[inline]
    pub fn put_out(&mut self, bytes: &[u8]) {
        append_out(&mut self.wbuf, &mut self.wpos, bytes);
    }

    /// Records that a remote reply of `len` bytes arrived.
    fn arrived(&mut self, len: usize) {
        self.remote = self.remote.saturating_sub(1);
        self.reply_est = if len >= self.reply_est {
            len
        } else {
            self.reply_est - (self.reply_est - len) / 8
        };
    }

    /// Drops the reply of the command numbered `seq` (CLIENT REPLY OFF or
    /// SKIP), dispatched when `unsent_before` bytes of output were unsent:
    /// taken back from the output or its slot if it is there, else
    /// dropped when it arrives.
    pub fn mute(&mut self, seq: u64, unsent_before: usize) {
        if seq < self.done_seq {
            let added = self.unsent().saturating_sub(unsent_before);
            let keep = self.wbuf.len() - added;
            self.wbuf.truncate(keep);
            return;
        }
        match self.slots.get_mut((seq - self.done_seq) as usize) {
            Some(Pending::Ready { len, .. }) => {
                self.held -= *len as usize;
                *len = 0;
            }
            Some(_) => self.muted.get_or_insert_with(Default::default).push(seq),
            None => {}
        }
    }

    /// Records the reply (or part) for `seq`, then drains complete slots.
    pub fn deliver(&mut self, seq: u64, part: u32, reply: &[u8], pool: &mut VecPool) {
        let Some(i) = seq.checked_sub(self.done_seq).map(|i| i as usize) else {
            return;
        };
        match self.slots.get_mut(i) {
            Some(slot @ Pending::Wait(_)) => {
                let remote = matches!(slot, Pending::Wait(true));
                let reply = if self.muted.is_some() && take_muted(&mut self.muted, seq) {
                    &[][..]
                } else {
                    reply
                };
                if i == 0 {
                    self.slots.pop_front();
                    self.put_out(reply);
                    self.done_seq += 1;
                } else {
                    *slot = Pending::Ready {
                        at: self.parked.len() as u32,
                        len: reply.len() as u32,
                    };
                    self.reserve_parked(reply.len());
                    self.parked.extend_from_slice(reply);
                    self.held += reply.len();
                }
                if remote {
                    self.arrived(reply.len());
                }
            }
            Some(slot @ Pending::Fan(_)) => {
                let Pending::Fan(fo) = slot else {
                    unreachable!()
                };
                let before = fo.copied;
                let done = fo.add(part as usize, reply, pool);
                self.held += fo.copied - before;
                if !done {
                    return;
                }
                let at = self.parked.len();
                fo.finish(&mut self.parked);
                fo.recycle_parts(pool);
                if self.muted.is_some() && take_muted(&mut self.muted, seq) {
                    self.parked.truncate(at);
                }
                let len = self.parked.len() - at;
                self.held -= fo.copied;
                self.held += len;
                *slot = Pending::Ready {
                    at: at as u32,
                    len: len as u32,
                };
                self.arrived(len);
            }
            _ => return,
        }
        self.drain_ready();
    }

    /// Moves leading complete slots to the output buffer.
    pub fn drain_ready(&mut self) {
        while let Some(&Pending::Ready { at, len }) = self.slots.front() {
            self.slots.pop_front();
            let (at, len) = (at as usize, len as usize);
            append_out(&mut self.wbuf, &mut self.wpos, &self.parked[at..at + len]);
            self.held -= len;
            self.done_seq += 1;
        }
        if self.slots.is_empty() {
            self.parked.clear();
            if self.parked.capacity() > 1 << 20 {
                self.parked = Vec::new();
            }
            if !self.pushes.is_empty() {
                self.release_pushes();
            }
        } else if !self.pushes.is_empty() && self.only_waits() && !self.defer_own {
            self.release_pushes();
        } else if self.parked.len() > 64 * 1024 && self.held * 2 < self.parked.len() {
            self.compact_parked();
        }
    }

    /// Moves the messages held behind replies to the output.
    #[cold]
    fn release_pushes(&mut self) {
        append_out(&mut self.wbuf, &mut self.wpos, &self.pushes);
        self.pushes.clear();
        if self.pushes.capacity() > 1 << 20 {
            self.pushes = Vec::new();
        }
    }

    /// Keeps only the parked bytes of replies still waiting: a connection
    /// whose pipeline never fully drains would otherwise grow `parked`
    /// without end.
    #[cold]
    fn compact_parked(&mut self) {
        let mut fresh = Vec::with_capacity(self.held);
        for slot in self.slots.iter_mut() {
            if let Pending::Ready { at, len } = slot {
                let from = *at as usize;
                *at = fresh.len() as u32;
                fresh.extend_from_slice(&self.parked[from..from + *len as usize]);
            }
        }
        self.parked = fresh;
    }
}

/// Whether `seq`'s reply is to be dropped (and forgets it).
#[cold]
#[allow(clippy::box_collection)]
fn take_muted(muted: &mut Option<Box<Vec<u64>>>, seq: u64) -> bool {
    let Some(m) = muted.as_mut() else {
        return false;
    };
    let Some(i) = m.iter().position(|&s| s == seq) else {
        return false;
    };
    m.swap_remove(i);
    if m.is_empty() {
        *muted = None;
    }
    true
}

/// Appends to an output buffer, after dropping what is already written
/// when it must grow ([`grow_big`]).
#[inline]
fn append_out(wbuf: &mut Vec<u8>, wpos: &mut usize, bytes: &[u8]) {
    if wbuf.len() + bytes.len() > wbuf.capacity() {
        grow_out(wbuf, wpos, bytes.len());
    }
    wbuf.extend_from_slice(bytes);
}

#[cold]
fn grow_out(wbuf: &mut Vec<u8>, wpos: &mut usize, more: usize) {
    if *wpos > 0 {
        wbuf.drain(..*wpos);
        *wpos = 0;
    }
    if wbuf.len() + more > wbuf.capacity() {
        grow_big(wbuf, more);
    }
}

/// Capacity an output or parked buffer takes in one step once it outgrows
/// 1 MiB: the output limit and a quarter, room for what a paused client
/// can be owed (the limit, plus the replies of the command that crossed
/// it).
const OUTPUT_RESERVE: usize = OUTPUT_SOFT_LIMIT + OUTPUT_SOFT_LIMIT / 4;

/// Grows a reply buffer that lacks room for `more` bytes. Up to 1 MiB it
/// doubles (Vec's own growth). A buffer past that belongs to a client that
/// reads slower than it asks, which the output limit stops near
/// [`OUTPUT_SOFT_LIMIT`]: it goes there in one step, and by a quarter
/// beyond (a single reply bigger than the limit), never doubling, so it
/// holds about what is owed. Growing by a quarter all the way would copy
/// the buffer half a dozen times on the way to the limit and free each old
/// copy, four times the final size that the allocator keeps resident for
/// up to its decay time; the capacity not yet written is address space,
/// not resident memory.
#[cold]
fn grow_big(v: &mut Vec<u8>, more: usize) {
    let cap = v.capacity();
    if cap < 1 << 20 {
        v.reserve(more);
        return;
    }
    let target = if cap < OUTPUT_RESERVE {
        OUTPUT_RESERVE
    } else {
        cap + cap / 4
    };
    v.reserve_exact(target.max(v.len() + more) - v.len());
}

/// Reusable byte vectors for replies that must wait in a slot.
#[derive(Default)]
pub(crate) struct VecPool {
    free: Vec<Vec<u8>>,
    /// Capacity of the vectors in `free`.
    kept: usize,
}

impl VecPool {
    /// Vectors larger than this are dropped rather than kept.
    const KEEP_CAP: usize = 16 * 1024;
    /// Bytes of capacity the pool may keep in all.
    const KEEP_BYTES: usize = 2 << 20;

    pub fn get(&mut self) -> Vec<u8> {
        match self.free.pop() {
            Some(v) => {
                self.kept -= v.capacity();
                v
            }
            None => Vec::new(),
        }
    }

    pub fn put(&mut self, mut v: Vec<u8>) {
        let cap = v.capacity();
        if cap <= Self::KEEP_CAP && self.kept + cap <= Self::KEEP_BYTES {
            v.clear();
            self.kept += cap;
            self.free.push(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_resp::Parse;

    /// A `ConnIo` over a real loopback connection (its socket is not used:
    /// the tests put bytes in `rbuf` as the reactor's reads would), and the
    /// client end, kept open.
    fn conn_io() -> (ConnIo, std::net::TcpStream) {
        let l = kevy_sys::TcpListener::bind_reuseport("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let stream = loop {
            if let Some((s, _)) = l.accept().unwrap() {
                break s;
            }
        };
        let io = ConnIo {
            stream,
            rbuf: Vec::new(),
            rpos: 0,
            rend: 0,
            parser: kevy_resp::Parser::new(),
            interest: None,
            eof: false,
            partial: false,
            hinted: 0,
        };
        (io, client)
    }

    /// Fills `io`'s free space from `input`, as one read would; returns
    /// the bytes taken.
    fn fill(io: &mut ConnIo, input: &[u8]) -> usize {
        io.make_room();
        let k = input.len().min(io.rbuf.len() - io.rend);
        io.rbuf[io.rend..io.rend + k].copy_from_slice(&input[..k]);
        io.rend += k;
        k
    }

    #[test]
    fn unparsed_input_grows_the_read_buffer_by_one_chunk_per_read() {
        let (mut io, _client) = conn_io();
        let flood = b"*2\r\n$3\r\nGET\r\n$5\r\nbig:0\r\n".repeat(100_000);
        let mut taken = 0;
        // Four reads, nothing parsed in between (the reactor reads up to
        // four times per readiness event).
        for _ in 0..4 {
            taken += fill(&mut io, &flood[taken..]);
        }
        assert_eq!(io.rbuf.len(), 4 * READ_CHUNK);
        assert_eq!(io.rend, 4 * READ_CHUNK);
    }

    #[test]
    fn a_command_bigger_than_the_buffer_grows_it_by_doubling() {
        let (mut io, _client) = conn_io();
        let mut cmd = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n".to_vec();
        cmd.extend(std::iter::repeat_n(b'v', 1 << 20));
        cmd.extend_from_slice(b"\r\n");
        let (mut taken, mut grows, mut len) = (0, 0, 0);
        loop {
            taken += fill(&mut io, &cmd[taken..]);
            if io.rbuf.len() != len {
                grows += 1;
                len = io.rbuf.len();
            }
            match io.parser.parse(&io.rbuf[io.rpos..io.rend]).unwrap() {
                Parse::Partial => assert!(io.parser.in_frame()),
                Parse::Complete(used) => {
                    assert_eq!(used, cmd.len());
                    break;
                }
            }
        }
        // 16 KiB doubled up to 2 MiB: eight sizes (one chunk a read would
        // take 65).
        assert!(grows <= 8, "{grows} sizes");
    }

    #[test]
    fn a_subscriber_breaks_the_soft_limit_only_after_its_seconds_above_it() {
        use crate::reactor::sim::toy::Toy;
        let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        let mut st = ConnState::<Toy>::new(ClientCtx {
            id: 1,
            db: 0,
            resp3: false,
            home: 0,
            peer: unspecified,
            local: unspecified,
            created_ms: 0,
            subscribed: true,
            unix: false,
            tracking: Default::default(),
            checked: false,
            no_touch: false,
        });
        let limit = OutputLimit {
            hard: 1000,
            soft: 100,
            soft_secs: 2,
        };
        st.push_message(b'*', &[b'x'; 149]);
        assert!(!st.over_limit(limit, 10_000));
        assert!(!st.over_limit(limit, 12_000), "exactly the soft seconds");
        assert!(st.over_limit(limit, 12_001));
        // Falling below the soft limit starts the clock over.
        st.wpos = st.wbuf.len();
        assert!(!st.over_limit(limit, 13_000));
        st.push_message(b'*', &[b'x'; 149]);
        assert!(!st.over_limit(limit, 14_000));
        assert!(!st.over_limit(limit, 15_000));
        // The hard limit is at once.
        st.push_message(b'*', &[b'x'; 999]);
        assert!(st.over_limit(limit, 15_000));
        // A RESP3 frame differs from its RESP2 twin in its first byte.
        let mut r3 = ConnState::<Toy>::new(st.client);
        r3.push_message(b'>', b"3\r\n");
        assert_eq!(r3.wbuf, b">3\r\n");
    }

    #[test]
    fn a_big_output_buffer_goes_to_the_limit_in_one_step_then_by_a_quarter() {
        let reply = vec![b'v'; 100 * 1024];
        let (mut wbuf, mut wpos) = (Vec::with_capacity(READ_CHUNK), 0);
        let mut caps = Vec::new();
        while wbuf.len() < 2 * OUTPUT_RESERVE {
            append_out(&mut wbuf, &mut wpos, &reply);
            if caps.last() != Some(&wbuf.capacity()) {
                caps.push(wbuf.capacity());
            }
        }
        // Capacities that grew from 1 MiB or more: the reserve, then a
        // quarter more each time.
        let big: Vec<usize> = caps.into_iter().skip_while(|&c| c < 1 << 20).collect();
        assert_eq!(big[1], OUTPUT_RESERVE, "{big:?}");
        for w in big[1..].windows(2) {
            assert_eq!(w[1], w[0] + w[0] / 4, "{big:?}");
        }
    }
}
