//! What crosses cores: a [`Batch`] per ring push, carrying requests from the
//! sender and replies to requests the receiver sent earlier. Argument and
//! reply bytes live in one buffer each, so a batch of any size is a handful
//! of allocations, and batches are recycled, so the steady state makes none.

use crate::service::{ClientCtx, ClientInfo, Service};
use kevy_resp::{Args, Span};

/// Where a reply goes: a connection (slab index and generation, so a reply
/// for a closed connection whose slot was reused is dropped), the command's
/// sequence number, and its part when it fanned out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dest {
    pub conn: u32,
    pub gen: u32,
    pub seq: u64,
    pub part: u32,
}

pub(crate) enum Req<S: Service> {
    /// Run a command; its arguments are `spans[first..first + n]`. It waits
    /// if its keys are locked by a transaction.
    Exec {
        dest: Dest,
        cmd: S::Cmd,
        client: ClientCtx,
        first: u32,
        n: u32,
    },
    /// Transaction `op` of the sender holds this shard's locks: run its
    /// command number `part` (fan-out part `sub`) now. `late`: a rider's
    /// part sent after the transaction's lock request in an earlier batch
    /// (crate doc, "Riders"), which may still wait here: it then runs on
    /// the grant, behind what came with the request.
    TxExec {
        op: u32,
        part: u32,
        sub: u32,
        cmd: S::Cmd,
        client: ClientCtx,
        first: u32,
        n: u32,
        late: bool,
    },
    /// Lock the keys `lock_keys[first..first + n]` (or the whole shard) for
    /// transaction `op` of the sender; answer `Locked` once held. With
    /// `watch`, also say whether a key `client` WATCHes here changed.
    Lock {
        op: u32,
        client: u64,
        whole: bool,
        /// The transaction only reads these keys (a shared lock).
        read: bool,
        watch: bool,
        /// The transaction's commands here and its unlock follow in this
        /// batch (the last shard of an early transaction).
        last: bool,
        /// Not to wait: when the locks are not free now, answer `Refused`
        /// and drop the commands and the unlock behind it (a transaction
        /// that holds its home shard's locks out of shard order tries
        /// this; crate doc, "Transactions").
        no_wait: bool,
        /// The coordinator's number for the transaction's effects
        /// ([`crate::TxTag`]`::seq`), 0 when they are not tagged.
        log: u64,
        first: u32,
        n: u32,
    },
    /// Transaction `op` of the sender is done here: release its locks.
    Unlock { op: u32 },
    /// Hash slots move here: the set and the clients waiting on their
    /// keys are the next entry of the batch's `slot_moves`, their keys
    /// the next `n` entries of `req_snaps`; answer `SlotTaken` once they
    /// are in (crate doc, "Moving slots to the cores that have time").
    SlotIn { n: u32 },
    /// Client `client` of the receiver waits on keys whose slot moved from
    /// shard `from` to the sender: the sender serves it now. Answer
    /// `Rehomed`.
    Rehome { client: u64, from: u32 },
    /// Copy out the keys at `spans[first..first + n]` for transaction `op`.
    Export { op: u32, first: u32, n: u32 },
    /// Copy out the name of every key here, with a stand-in of its state
    /// (`Service::export_names`), for transaction `op`; answered as an
    /// `Export`.
    ExportNames { op: u32 },
    /// Replace `n` keys with the next `n` entries of `req_snaps`; with
    /// `share`, log the next entry of `req_shares` (the commands that made
    /// them) instead of their new states.
    Import { op: u32, n: u32, share: bool },
    /// Register WATCHes of `client` on the keys at `spans[first..first + n]`
    /// in database `db`, then answer `+OK` to `dest` (WATCH replies only
    /// once every shard registered, so a write the client causes after the
    /// reply is seen, whichever ring it travels on).
    Watch {
        dest: Dest,
        client: u64,
        db: u32,
        first: u32,
        n: u32,
    },
    /// Drop every WATCH of `client` here.
    Unwatch { client: u64 },
    /// Describe every connection here for CLIENT LIST/KILL `op`.
    Clients { op: u32 },
    /// Close the connections whose ids are the next `n` entries of `ids`,
    /// then acknowledge CLIENT KILL `op`.
    Kill { op: u32, n: u32 },
    /// Mark every connection for the access check on its next command
    /// (CLIENT-style operation `op`; answered as a kill is).
    Recheck { op: u32 },
    /// Release the blocked connections whose ids are the next `n` entries
    /// of `ids` (`error`: with `-UNBLOCKED`), then acknowledge CLIENT
    /// UNBLOCK `op` as a kill is.
    Unblock { op: u32, n: u32, error: bool },
    /// A MONITOR line (`spans[first..first + n]`, one span) for this
    /// shard's monitors.
    Monitor { first: u32, n: u32 },
    /// Deliver a message to this shard's subscribers (`spans[first]` the
    /// channel, `spans[first + 1]` the message; shard-channel subscribers
    /// when `sharded`), then answer `dest` with how many received it.
    Publish {
        dest: Dest,
        sharded: bool,
        first: u32,
        n: u32,
    },
    /// Deliver a message its commands made (a keyspace event, a script's
    /// PUBLISH or, `sharded`, SPUBLISH) to this shard's subscribers:
    /// `spans[first]` the channel, `spans[first + 1]` the message. Nothing
    /// is answered.
    Notify { first: u32, n: u32, sharded: bool },
    /// Moving subscribers (`reactor/handoff.rs`): the sender, which took
    /// in subscribers of session `e` of shard `from`, asks this shard for
    /// its cut: `Cut` to `from`, then `CutDirect` back.
    CutAsk { from: u32, e: u32 },
    /// The sender's cut for this shard's session `e`: forward none of its
    /// later messages, and pass the cut on (`CutFwd`).
    Cut { e: u32 },
    /// The sender's cut for session `e` of shard `from`: its messages
    /// count here from now on.
    CutDirect { from: u32, e: u32 },
    /// Shard `x`'s cut passed the sender (session `e`): every message of
    /// `x` it forwarded has arrived; release what is held of `x`'s.
    CutFwd { x: u32, e: u32 },
    /// A message for subscribers that moved here from the sender:
    /// `spans[first]` the frame (RESP2), `spans[first + 1]` their client
    /// ids, 8 bytes each, little-endian.
    Forward { first: u32, n: u32 },
    /// PUBLISH (SPUBLISH when `sharded`) run by transaction `op` of the
    /// sender, its command number `part`: deliver the message
    /// `spans[first + 1]` of channel `spans[first]` to this shard's
    /// subscribers, and answer how many received it as part `sub`
    /// (`TxReply`).
    TxPublish {
        op: u32,
        part: u32,
        sub: u32,
        sharded: bool,
        first: u32,
        n: u32,
    },
    /// An invalidation for this shard's tracking connection `client`
    /// (client-side caching): the payload, a RESP array of keys, at
    /// `spans[first]`; `writer` wrote them (0: none); `bcast`: a
    /// broadcasting-mode message; `after`: the sequence number of the
    /// client's own command whose reply it follows (`exec::NO_SEQ`: none).
    Invalidate {
        client: u64,
        writer: u64,
        bcast: bool,
        after: u64,
        first: u32,
        n: u32,
    },
    /// An invalidation for this shard's connection `target`, which the
    /// sender's tracking connection `tracker` redirects to: the payload at
    /// `spans[first]`, or null when `n` is 0 (framed as RESP3's null when
    /// `resp3`, the tracker's protocol, as Redis frames it).
    Redirected {
        target: u64,
        tracker: u64,
        resp3: bool,
        first: u32,
        n: u32,
    },
    /// `redirect`, the connection this shard's `tracker` redirects its
    /// invalidations to, is gone.
    RedirBroken { tracker: u64, redirect: u64 },
    /// Tracking client `client` of shard `home` read the key at
    /// `spans[first]`, one of this shard's, in a command run by copy:
    /// record it (ahead of the transaction's unlock).
    Track {
        client: u64,
        home: u32,
        first: u32,
        n: u32,
    },
    /// The sender's waiter for `client` (`dest` its blocked command) could
    /// be served: answer `Woken`.
    Wake { client: u64, dest: Dest },
    /// `client` no longer waits here (timed out, unblocked, gone, or
    /// served by a transaction of its home).
    Unpark { client: u64 },
    /// The claim that held `client`'s waiter here ended without serving
    /// it ([`Wakened::Hold`]): it looks at its keys again.
    Unhold { client: u64 },
    /// The sender's waiter for `client` (`dest` its blocked command `cmd`,
    /// arguments `spans[first..first + n]`) could be served, but the
    /// command also writes a key of another shard: run it as a
    /// transaction from the client's home (which parks or unparks the
    /// waiter before it unlocks), or answer `Woken` when it may not.
    Retry {
        dest: Dest,
        cmd: S::Cmd,
        client: ClientCtx,
        first: u32,
        n: u32,
    },
    /// The sender ran `client`'s command `cmd` for `dest` (arguments
    /// `spans[first..first + n]`), and it asks to run again over the
    /// whole keyspace (`Sink::escalate`): start that transaction, which
    /// answers `dest`.
    Escalate {
        dest: Dest,
        cmd: S::Cmd,
        client: ClientCtx,
        first: u32,
        n: u32,
    },
    /// What the sender's waiter `client` was served ([`Resp::Served`])
    /// reached its home after it stopped waiting: put it back. The reply
    /// is `spans[first]`, the blocked command's arguments the next
    /// `n - 1` spans; it ran in database `db`.
    PutBack {
        client: u64,
        db: u32,
        first: u32,
        n: u32,
    },
    /// Park `client` (of the sender, `dest` its blocked command) on this
    /// shard's keys of blocking command `cmd` (its arguments are
    /// `spans[first..first + n]`): its keys span shards, and the
    /// transaction that found them empty still holds their locks here. A
    /// waiter already here (woken, then found nothing) keeps its place.
    Park {
        dest: Dest,
        cmd: S::Cmd,
        client: ClientCtx,
        first: u32,
        n: u32,
    },
}

pub(crate) enum Resp {
    /// A reply's bytes: `rdata[start..start + len]`.
    Reply { dest: Dest, start: u32, len: u32 },
    /// A transaction command's reply: `rdata[start..start + len]`.
    TxReply {
        op: u32,
        part: u32,
        sub: u32,
        start: u32,
        len: u32,
    },
    /// The locks of transaction `op` are held; `changed`: a watched key
    /// changed since WATCH.
    Locked { op: u32, changed: bool },
    /// A `no_wait` lock request of transaction `op` found its keys taken:
    /// nothing of it ran here.
    Refused { op: u32 },
    /// The next `n` entries of `resp_snaps` answer an `Export`.
    Exported { op: u32, n: u32 },
    /// The next `n` entries of `infos` answer `Clients`.
    Clients { op: u32, n: u32 },
    /// The connections `Kill` named are closed.
    Killed { op: u32 },
    /// The command for `dest` waits on keys here for up to `timeout` ms
    /// (no reply yet; `blocking::AGAIN`: woken, it waits again).
    Blocked {
        dest: Dest,
        client: u64,
        timeout: u64,
    },
    /// The keys of the hash slots the receiver moved are in the sender's
    /// store.
    SlotTaken,
    /// Answers `Rehome`; `gone`: the client no longer waits there (its
    /// wait ended meanwhile), so its waiter goes.
    Rehomed { client: u64, gone: bool },
    /// Answers `Wake` (or a refused `Retry`).
    Woken { client: u64, answer: Wakened },
    /// A waiter of the receiver was served here without asking first
    /// ([`crate::Service::serves_ahead`]): the reply for `dest` is
    /// `rdata[start..start + len]`, the blocked command's arguments
    /// `spans[first..first + n]` (with `db`, what a [`Req::PutBack`]
    /// needs when the client no longer waits).
    Served {
        dest: Dest,
        client: u64,
        db: u32,
        start: u32,
        len: u32,
        first: u32,
        n: u32,
    },
}

/// A home's answer to an owner that woke one of its blocked clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wakened {
    /// The client still waits for that command: serve it now (it is
    /// claimed for this owner).
    Serve,
    /// It no longer waits for it (served, timed out, unblocked, gone):
    /// drop the waiter.
    Drop,
    /// It waits, but another owner serves it now: keep the waiter where
    /// it is, held, until that ends (`Unpark` when served, `Unhold` when
    /// not).
    Hold,
}

pub(crate) struct Batch<S: Service> {
    pub reqs: Vec<Req<S>>,
    pub args: Vec<u8>,
    pub spans: Vec<Span>,
    pub req_snaps: Vec<(Vec<u8>, S::Snapshot)>,
    /// What `Import` requests with `share` log, in order.
    pub req_shares: Vec<crate::exec::Share>,
    pub resps: Vec<Resp>,
    pub rdata: Vec<u8>,
    pub resp_snaps: Vec<(Vec<u8>, S::Snapshot)>,
    pub infos: Vec<ClientInfo>,
    pub ids: Vec<u64>,
    /// Key ids of `Lock` requests (`lock::key_id`).
    pub lock_keys: Vec<u64>,
    /// Connections moving to the receiving shard (crate doc, "Moving
    /// connections to the cores that have time").
    pub conns: Vec<Box<crate::conn::Conn<S>>>,
    /// Slots moving to the receiving shard with the clients waiting on
    /// their keys, one per `SlotIn` (crate doc, "Moving slots to the
    /// cores that have time").
    pub slot_moves: Vec<(crate::slot::SlotSet, crate::reactor::MovedWaiters<S>)>,
}

impl<S: Service> Default for Batch<S> {
    fn default() -> Self {
        Batch {
            reqs: Vec::new(),
            args: Vec::new(),
            spans: Vec::new(),
            req_snaps: Vec::new(),
            req_shares: Vec::new(),
            resps: Vec::new(),
            rdata: Vec::new(),
            resp_snaps: Vec::new(),
            infos: Vec::new(),
            ids: Vec::new(),
            lock_keys: Vec::new(),
            conns: Vec::new(),
            slot_moves: Vec::new(),
        }
    }
}

/// Capacity a recycled batch keeps per buffer ([`Batch::KEEP_BYTES`]).
const KEEP_BYTES: usize = 256 * 1024;

/// How full the batches were, buffer by buffer ([`Batch::fill`]): a batch
/// taken for a peer starts with room for what the recent ones sent there
/// held ([`Batch::make_room`]), instead of growing from empty by
/// doubling, each step a reallocation that copies what it holds (a few
/// hundred pipelined commands are tens of kilobytes of requests).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Fill {
    reqs: usize,
    args: usize,
    spans: usize,
    resps: usize,
    rdata: usize,
    ids: usize,
    lock_keys: usize,
}

impl Fill {
    /// `self` (the sizes kept so far) after one more batch that was
    /// `last` full: the bigger of the two, what was kept shrinking by an
    /// eighth per batch, so one burst does not size batches for long.
    pub fn after(self, last: Fill) -> Fill {
        let f = |kept: usize, now: usize| now.max(kept - kept / 8);
        Fill {
            reqs: f(self.reqs, last.reqs),
            args: f(self.args, last.args),
            spans: f(self.spans, last.spans),
            resps: f(self.resps, last.resps),
            rdata: f(self.rdata, last.rdata),
            ids: f(self.ids, last.ids),
            lock_keys: f(self.lock_keys, last.lock_keys),
        }
    }
}

impl<S: Service> Batch<S> {
    /// How full this batch is.
    pub fn fill(&self) -> Fill {
        Fill {
            reqs: self.reqs.len(),
            args: self.args.len(),
            spans: self.spans.len(),
            resps: self.resps.len(),
            rdata: self.rdata.len(),
            ids: self.ids.len(),
            lock_keys: self.lock_keys.len(),
        }
    }

    /// Gives this batch, empty, room for `f` in every buffer, at most
    /// [`Self::KEEP_BYTES`] per buffer (what a recycled batch keeps): a
    /// buffer with less is replaced by a new one of that size, which
    /// copies nothing.
    pub fn make_room(&mut self, f: Fill) {
        fn room<T>(v: &mut Vec<T>, n: usize) {
            let n = n.min(KEEP_BYTES / std::mem::size_of::<T>().max(1));
            if v.capacity() < n && v.is_empty() {
                *v = Vec::with_capacity(n);
            }
        }
        room(&mut self.reqs, f.reqs);
        room(&mut self.args, f.args);
        room(&mut self.spans, f.spans);
        room(&mut self.resps, f.resps);
        room(&mut self.rdata, f.rdata);
        room(&mut self.ids, f.ids);
        room(&mut self.lock_keys, f.lock_keys);
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty() && self.resps.is_empty() && self.conns.is_empty()
    }

    /// Empties the batch, keeping its buffers' capacity.
    pub fn clear(&mut self) {
        self.reqs.clear();
        self.args.clear();
        self.spans.clear();
        self.req_snaps.clear();
        self.req_shares.clear();
        self.resps.clear();
        self.rdata.clear();
        self.resp_snaps.clear();
        self.infos.clear();
        self.ids.clear();
        self.lock_keys.clear();
        self.conns.clear();
        self.slot_moves.clear();
    }

    /// Gives back what one unusually large batch grew, so a recycled batch
    /// keeps at most about [`Self::KEEP_BYTES`] per buffer.
    pub fn trim(&mut self) {
        fn cap<T>(v: &mut Vec<T>, bytes: usize) {
            let keep = (bytes / std::mem::size_of::<T>().max(1)).max(16);
            if v.capacity() > keep {
                v.shrink_to(keep);
            }
        }
        cap(&mut self.reqs, Self::KEEP_BYTES);
        cap(&mut self.args, Self::KEEP_BYTES);
        cap(&mut self.spans, Self::KEEP_BYTES);
        cap(&mut self.req_snaps, 0);
        cap(&mut self.req_shares, 0);
        cap(&mut self.resps, Self::KEEP_BYTES);
        cap(&mut self.rdata, Self::KEEP_BYTES);
        cap(&mut self.resp_snaps, 0);
        cap(&mut self.infos, 0);
        cap(&mut self.ids, Self::KEEP_BYTES);
        cap(&mut self.lock_keys, Self::KEEP_BYTES);
        cap(&mut self.conns, 0);
        cap(&mut self.slot_moves, 0);
    }

    /// The bytes its buffers hold (their capacity, not what is in use).
    pub fn capacity_bytes(&self) -> usize {
        fn bytes<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        bytes(&self.reqs)
            + bytes(&self.args)
            + bytes(&self.spans)
            + bytes(&self.req_snaps)
            + bytes(&self.req_shares)
            + bytes(&self.resps)
            + bytes(&self.rdata)
            + bytes(&self.resp_snaps)
            + bytes(&self.infos)
            + bytes(&self.ids)
            + bytes(&self.lock_keys)
    }

    /// Capacity a recycled batch keeps per buffer.
    pub const KEEP_BYTES: usize = KEEP_BYTES;

    /// Appends arguments; returns the index of the first span.
    pub fn push_args<'a>(&mut self, args: impl Iterator<Item = &'a [u8]>) -> (u32, u32) {
        let first = self.spans.len() as u32;
        for a in args {
            let start = self.args.len() as u32;
            self.args.extend_from_slice(a);
            self.spans.push(Span {
                start,
                len: a.len() as u32,
            });
        }
        (first, self.spans.len() as u32 - first)
    }

    pub fn args_at(&self, first: u32, n: u32) -> Args<'_> {
        Args::new(
            &self.args,
            &self.spans[first as usize..(first + n) as usize],
        )
    }
}
