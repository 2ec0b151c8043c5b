//! The executor: one shard's keyspace, its lock table and what waits in
//! it. It runs every command that reaches this shard, whoever sent it (the
//! reactor's own connections inline, peers by ring, transactions holding
//! locks here), and it is the *participant* side of transactions: it grants
//! `Lock` requests in the lock table's order, runs a transaction's
//! commands, releases on `Unlock`, and lets what waited go.
//!
//! It answers peers in the batch going back to them (any [`Wire`]); what
//! it owes this reactor itself (a reply to one of its connections, a lock
//! granted to its own coordinator) it leaves in [`Executor::local`], which
//! the reactor drains after each call, so the executor never reaches into
//! the connection table or the coordinator.

use crate::exec::{self, Effects, TxTag};
use crate::lock::{key_id, tx_id, Claim, Locks, TxId};
use crate::msg::{Batch, Dest, Req, Resp};
use crate::service::{ClientCtx, Route, Service};
use crate::slot::SlotMap;
use kevy_resp::{Args, OwnedArgs};
use std::sync::Arc;

/// Where messages to other shards go: the batch each peer receives with
/// the next push (the mesh endpoint; plain queues in the coordinator's
/// tests).
pub(super) trait Wire<S: Service> {
    fn batch(&mut self, s: usize) -> &mut Batch<S>;
}

/// What waits in a shard's lock queue.
pub(super) enum Wait<S: Service> {
    /// A command whose keys were locked; runs once they are free. Its reply
    /// goes to the peer shard `to`, or to this reactor's connection.
    Run {
        to: Option<usize>,
        dest: Dest,
        cmd: S::Cmd,
        client: ClientCtx,
        args: OwnedArgs,
    },
    /// A WATCH registration behind the same client's waiting commands.
    Watch {
        to: Option<usize>,
        dest: Dest,
        db: u32,
        keys: OwnedArgs,
    },
    /// Transaction `op` of shard `from` asks for locks. Its commands that
    /// arrived behind the request wait with it (`then`), and run once the
    /// locks are held; `unlock`: an `Unlock` arrived behind them too.
    Lock {
        from: usize,
        op: u32,
        watch: bool,
        then: Vec<Attached<S>>,
        unlock: bool,
        /// Keys to copy out for the transaction's command run by copy,
        /// asked right behind the request (`Req::Export`).
        export: Option<OwnedArgs>,
    },
}

/// A transaction command that arrived behind its queued lock request.
pub(super) struct Attached<S: Service> {
    part: u32,
    sub: u32,
    cmd: S::Cmd,
    client: ClientCtx,
    args: OwnedArgs,
}

/// What the executor owes its own reactor.
pub(super) enum Local<S: Service> {
    /// A reply for one of this reactor's connections:
    /// `local_data[start..start + len]`.
    Reply { dest: Dest, start: u32, len: u32 },
    /// This reactor's transaction `op` holds its locks here now.
    Locked { op: u32, changed: bool },
    /// A command of one of this reactor's connections waits on keys here
    /// for up to `timeout` ms (crate doc, "Blocking").
    Blocked {
        dest: Dest,
        client: u64,
        timeout: u64,
    },
    /// A command of one of this reactor's connections that ran behind a
    /// lock asks to run again over the whole keyspace (`Sink::escalate`).
    Escalate {
        dest: Dest,
        cmd: S::Cmd,
        client: ClientCtx,
        args: OwnedArgs,
    },
}

pub(super) struct Executor<S: Service> {
    pub id: usize,
    pub n: usize,
    /// Which shard owns each hash slot.
    pub slots: Arc<SlotMap>,
    pub svc: Arc<S>,
    pub shard: S::Shard,
    /// This shard's effects stream (exec.rs).
    pub effects: Effects,
    /// This shard's key locks and what waits for them.
    pub locks: Locks<Wait<S>>,
    /// What this reactor must do with the executor's results, in order.
    pub local: Vec<Local<S>>,
    pub local_data: Vec<u8>,
    /// Peer transactions whose effects here are tagged, while they hold
    /// locks here (few at a time).
    tags: Vec<(TxId, TxTag)>,
    /// The clients waiting on this shard's keys (blocking.rs).
    pub waiters: super::blocking::Waiters<S>,
    /// How many commands that may run long ([`Service::runs_long`]:
    /// scripts) wait in the lock queue: an unlock may run them, and the
    /// reactor lends its other connections for it while there are any
    /// (`reactor/busy.rs`).
    pub long_queued: usize,
}

impl<S: Service> Executor<S> {
    pub fn new(id: usize, slots: Arc<SlotMap>, svc: Arc<S>) -> Self {
        let n = slots.shards();
        let shard = svc.new_shard(id, n);
        let mut effects = Effects::default();
        effects.set_enabled(svc.wants_effects());
        Executor {
            id,
            n,
            slots,
            svc,
            shard,
            effects,
            locks: Locks::default(),
            local: Vec::new(),
            local_data: Vec::new(),
            tags: Vec::new(),
            waiters: Default::default(),
            long_queued: 0,
        }
    }

    /// The tag of peer transaction `owner`'s effects here, if they have one.
    pub fn tag_of(&self, owner: TxId) -> Option<TxTag> {
        if self.tags.is_empty() {
            return None;
        }
        self.tags.iter().find(|(o, _)| *o == owner).map(|(_, t)| *t)
    }

    /// Runs a command here, its reply appended to `out`.
    #[inline(always)]
    pub fn run(
        &mut self,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: Args<'_>,
        part: u32,
        out: &mut Vec<u8>,
    ) {
        exec::run(
            &*self.svc,
            &mut self.shard,
            &mut self.effects,
            client,
            cmd,
            args,
            part,
            self.locks.active(),
            out,
        );
        self.note(client, args);
    }

    /// What a command touches on this shard, from the command table: the
    /// keys of its route that live here.
    pub fn claim_for(&self, client: &ClientCtx, args: Args<'_>) -> Claim {
        match self.svc.route(args, client, self.n) {
            Ok((cmd, route)) => self.claim_of(Vec::new(), client, (cmd, route), args, false),
            Err(_) => Claim {
                client: client.id,
                via: client.home,
                ..Claim::default()
            },
        }
    }

    /// The claim of `cmd` routed as `route`, its key list in `keys` (empty;
    /// a recycled one spares an allocation). `sent_here`: routing sent the
    /// command to this shard whole, so every key it names lives here and
    /// none is hashed again to ask.
    fn claim_of(
        &self,
        keys: Vec<u64>,
        client: &ClientCtx,
        (cmd, route): (S::Cmd, Route),
        args: Args<'_>,
        sent_here: bool,
    ) -> Claim {
        let mut claim = Claim {
            client: client.id,
            via: client.home,
            keys,
            read: self.svc.reads_only(cmd),
            ..Claim::default()
        };
        match route {
            Route::Keys { .. } => {
                let here = |k: &&[u8]| {
                    if sent_here {
                        debug_assert_eq!(self.slots.shard_of(k), self.id, "a key of another shard");
                        true
                    } else {
                        self.slots.shard_of(k) == self.id
                    }
                };
                claim.keys.extend(route.keys(args).filter(here).map(key_id));
            }
            Route::All(_) | Route::Shard(_) => claim.whole = true,
            Route::Conn | Route::Tx(_) | Route::Clients { .. } | Route::PubSub(_) => {}
        }
        claim
    }

    /// Queues a command whose keys are held or waited for, to run once they
    /// are free; false (and nothing queued) when it may run now. Only asked
    /// while the lock table is active, and only of a command that routing
    /// sent here whole: every key it names lives on this shard. `route` is
    /// its route when the caller has it (else it is found again).
    pub fn defer_if_locked(
        &mut self,
        to: Option<usize>,
        dest: Dest,
        (cmd, route): (S::Cmd, Option<Route>),
        client: ClientCtx,
        args: Args<'_>,
    ) -> bool {
        let route = match route {
            Some(r) => r,
            None => match self.svc.route(args, &client, self.n) {
                Ok((_, r)) => r,
                Err(_) => Route::Conn,
            },
        };
        let keys = self.locks.keys_vec();
        let claim = self.claim_of(keys, &client, (cmd, route), args, true);
        self.defer_claim(claim, to, dest, cmd, client, args)
    }

    /// [`Self::defer_if_locked`] with the claim made: what a command
    /// touches, under the lock-table identity it waits as.
    pub(super) fn defer_claim(
        &mut self,
        claim: Claim,
        to: Option<usize>,
        dest: Dest,
        cmd: S::Cmd,
        client: ClientCtx,
        args: Args<'_>,
    ) -> bool {
        if self.locks.may_go(&claim) {
            self.locks.recycle(claim.keys);
            return false;
        }
        if self.svc.runs_long(cmd) {
            self.long_queued += 1;
        }
        self.locks.enqueue(
            claim,
            Wait::Run {
                to,
                dest,
                cmd,
                client,
                args: args.to_owned_args(),
            },
        );
        true
    }

    /// Runs part `part` of a command for peer shard `peer`, its reply
    /// appended to the batch going back there; returns the reply's span in
    /// `rdata`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn run_for_peer(
        &mut self,
        wire: &mut impl Wire<S>,
        peer: usize,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: Args<'_>,
        part: u32,
    ) -> (u32, u32) {
        let out = wire.batch(peer);
        let start = out.rdata.len();
        exec::run(
            &*self.svc,
            &mut self.shard,
            &mut self.effects,
            client,
            cmd,
            args,
            part,
            self.locks.active(),
            &mut out.rdata,
        );
        let span = (start as u32, (out.rdata.len() - start) as u32);
        self.note(client, args);
        span
    }

    // ---- the participant side of transactions -----------------------------

    /// A peer transaction's lock request for this shard; false when it
    /// waits (its commands behind it in the batch then wait with it).
    /// `last`: the request is followed in its batch by all of the
    /// transaction's commands here and its unlock, so when it may go at
    /// once it runs them back to back without entering the lock table
    /// (nothing else runs on this reactor in between). `log`: the
    /// coordinator's number for the transaction's effects, 0 for none.
    /// `no_wait`: a request that may not wait is refused (`Refused`, and
    /// false) instead of queued; the caller drops what follows it.
    #[allow(clippy::too_many_arguments)]
    pub fn lock_request(
        &mut self,
        wire: &mut impl Wire<S>,
        from: usize,
        op: u32,
        claim: Claim,
        watch: bool,
        last: bool,
        no_wait: bool,
        log: u64,
    ) -> bool {
        if log != 0 {
            let tag = TxTag {
                coord: from as u32,
                seq: log,
            };
            self.tags.push((tx_id(from, op), tag));
        }
        if self.locks.may_go(&claim) {
            if last && !watch {
                wire.batch(from)
                    .resps
                    .push(Resp::Locked { op, changed: false });
                self.locks.recycle(claim.keys);
            } else {
                self.grant_lock(wire, from, op, claim, watch);
            }
            true
        } else if no_wait {
            wire.batch(from).resps.push(Resp::Refused { op });
            self.locks.recycle(claim.keys);
            false
        } else {
            self.locks.enqueue(
                claim,
                Wait::Lock {
                    from,
                    op,
                    watch,
                    then: Vec::new(),
                    unlock: false,
                    export: None,
                },
            );
            false
        }
    }

    /// This reactor's own transaction `op` asks for its locks here: the
    /// WATCH answer (`Some(changed)`) when they are free now, taken unless
    /// `hold` is false (the transaction runs its commands here at once and
    /// lets go: nothing can run in between); `None` when it waits, and
    /// `Local::Locked` reports the grant later.
    pub fn lock_home(&mut self, op: u32, claim: Claim, watch: bool, hold: bool) -> Option<bool> {
        if !self.locks.may_go(&claim) {
            self.locks.enqueue(
                claim,
                Wait::Lock {
                    from: self.id,
                    op,
                    watch,
                    then: Vec::new(),
                    unlock: false,
                    export: None,
                },
            );
            return None;
        }
        let changed = watch && self.svc.watch_changed(&mut self.shard, claim.owner());
        if hold {
            self.locks.hold(tx_id(self.id, op), claim);
        } else {
            self.locks.recycle(claim.keys);
        }
        Some(changed)
    }

    /// Attaches a command of transaction `op` of shard `from` to its lock
    /// request when that waits here (it runs on the grant); false when the
    /// transaction holds its locks (the command runs now). A rider's part
    /// (crate doc, "Riders") may come with other requests queued in
    /// between, so the request is looked up, from the latest.
    #[allow(clippy::too_many_arguments)]
    pub fn attach_to(
        &mut self,
        from: usize,
        op: u32,
        part: u32,
        sub: u32,
        cmd: S::Cmd,
        client: ClientCtx,
        args: Args<'_>,
    ) -> bool {
        let queued = self.locks.queued_mut(
            |w| matches!(w, Wait::Lock { from: f, op: o, .. } if (*f, *o) == (from, op)),
        );
        let Some(Wait::Lock { then, .. }) = queued else {
            return false;
        };
        then.push(Attached {
            part,
            sub,
            cmd,
            client,
            args: args.to_owned_args(),
        });
        true
    }

    /// Attaches a request to copy keys out to the lock request queued last.
    pub fn attach_export(&mut self, keys: Args<'_>) {
        if let Some(Wait::Lock { export, .. }) = self.locks.last_queued_mut() {
            *export = Some(keys.to_owned_args());
        }
    }

    /// Copies out `keys` for transaction `op` of shard `from` (its locks
    /// are held), answered in the batch going back.
    pub fn export_to(&mut self, wire: &mut impl Wire<S>, from: usize, op: u32, keys: Args<'_>) {
        let b = wire.batch(from);
        for k in keys.iter() {
            let snap = self.svc.export(&mut self.shard, k);
            b.resp_snaps.push((k.to_vec(), snap));
        }
        b.resps.push(Resp::Exported {
            op,
            n: keys.len() as u32,
        });
    }

    /// Marks the lock request queued last to release after its commands.
    pub fn attach_unlock(&mut self) {
        if let Some(Wait::Lock { unlock, .. }) = self.locks.last_queued_mut() {
            *unlock = true;
        }
    }

    /// Runs a transaction command of shard `from` (its locks are held).
    #[allow(clippy::too_many_arguments)]
    pub fn run_tx_cmd(
        &mut self,
        wire: &mut impl Wire<S>,
        from: usize,
        op: u32,
        part: u32,
        sub: u32,
        cmd: S::Cmd,
        client: &ClientCtx,
        args: Args<'_>,
    ) {
        let tag = self.tag_of(tx_id(from, op));
        self.effects.set_tx(tag);
        let (start, len) = self.run_for_peer(wire, from, client, cmd, args, sub);
        self.effects.set_tx(None);
        wire.batch(from).resps.push(Resp::TxReply {
            op,
            part,
            sub,
            start,
            len,
        });
    }

    fn grant_lock(
        &mut self,
        wire: &mut impl Wire<S>,
        from: usize,
        op: u32,
        claim: Claim,
        watch: bool,
    ) {
        let changed = watch && self.svc.watch_changed(&mut self.shard, claim.owner());
        self.locks.hold(tx_id(from, op), claim);
        if from == self.id {
            self.local.push(Local::Locked { op, changed });
        } else {
            wire.batch(from).resps.push(Resp::Locked { op, changed });
        }
    }

    /// Releases a transaction's locks here and lets waiters go.
    pub fn unlock(&mut self, wire: &mut impl Wire<S>, owner: TxId) {
        self.locks.release(owner);
        if !self.tags.is_empty() {
            self.tags.retain(|(o, _)| *o != owner);
        }
        loop {
            let go = self.locks.grantable();
            if go.is_empty() {
                break;
            }
            for w in go {
                match w.what {
                    Wait::Run {
                        to,
                        dest,
                        cmd,
                        client,
                        args,
                    } => {
                        if self.long_queued > 0 && self.svc.runs_long(cmd) {
                            self.long_queued -= 1;
                        }
                        self.run_deferred(wire, to, dest, cmd, client, &args)
                    }
                    Wait::Watch { to, dest, db, keys } => {
                        self.register_watch(wire, to, dest, w.claim.client, db, keys.args())
                    }
                    Wait::Lock {
                        from,
                        op,
                        watch,
                        then,
                        unlock,
                        export,
                    } => {
                        self.grant_lock(wire, from, op, w.claim, watch);
                        if let Some(keys) = export {
                            self.export_to(wire, from, op, keys.args());
                        }
                        for a in then {
                            self.run_tx_cmd(
                                wire,
                                from,
                                op,
                                a.part,
                                a.sub,
                                a.cmd,
                                &a.client,
                                a.args.args(),
                            );
                        }
                        if unlock {
                            // The loop goes on granting what this frees.
                            self.locks.release(tx_id(from, op));
                        }
                    }
                }
            }
        }
        // Waiters of keys the transaction held may be served now.
        if self.waiters.has_ready() {
            self.waiters.fresh = true;
        }
    }

    fn run_deferred(
        &mut self,
        wire: &mut impl Wire<S>,
        to: Option<usize>,
        dest: Dest,
        cmd: S::Cmd,
        client: ClientCtx,
        args: &OwnedArgs,
    ) {
        match to {
            Some(peer) => {
                if let Some(resp) = self.run_peer_cmd(wire, peer, dest, &client, cmd, args.args()) {
                    wire.batch(peer).resps.push(resp);
                }
            }
            None => {
                let mut out = std::mem::take(&mut self.local_data);
                let start = out.len();
                let home = self.id;
                match self.run_blocking(home, dest, &client, cmd, args.args(), &mut out) {
                    None => self.local.push(Local::Reply {
                        dest,
                        start: start as u32,
                        len: (out.len() - start) as u32,
                    }),
                    Some(super::blocking::ESCALATE) => self.local.push(Local::Escalate {
                        dest,
                        cmd,
                        client,
                        args: args.clone(),
                    }),
                    Some(timeout) => self.local.push(Local::Blocked {
                        dest,
                        client: client.id,
                        timeout,
                    }),
                }
                self.local_data = out;
            }
        }
    }

    /// Runs a peer's command (one that may block), its reply appended to
    /// the batch going back; returns the answer to push with it. A command
    /// that asks to run again over the whole keyspace goes back to its
    /// client's home instead (`Req::Escalate`), and nothing is answered.
    pub fn run_peer_cmd(
        &mut self,
        wire: &mut impl Wire<S>,
        peer: usize,
        dest: Dest,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: Args<'_>,
    ) -> Option<Resp> {
        let mut out = std::mem::take(&mut wire.batch(peer).rdata);
        let start = out.len();
        let mark = self.effects.pushes.inval_count();
        let block = self.run_blocking(peer, dest, client, cmd, args, &mut out);
        if self.effects.pushes.inval_count() != mark {
            // A tracking client's invalidation of its own write follows
            // that write's reply, as in Redis (crate doc, "Client-side
            // caching").
            self.effects.pushes.follow_reply(mark, client.id, dest.seq);
        }
        let r = match block {
            None => Resp::Reply {
                dest,
                start: start as u32,
                len: (out.len() - start) as u32,
            },
            Some(super::blocking::ESCALATE) => {
                let b = wire.batch(peer);
                b.rdata = out;
                let (first, n) = b.push_args(args.iter());
                b.reqs.push(Req::Escalate {
                    dest,
                    cmd,
                    client: *client,
                    first,
                    n,
                });
                return None;
            }
            Some(timeout) => Resp::Blocked {
                dest,
                client: client.id,
                timeout,
            },
        };
        wire.batch(peer).rdata = out;
        Some(r)
    }

    // ---- WATCH registrations ---------------------------------------------

    /// Whether a WATCH of `client` may register now: nothing the client
    /// sent earlier waits in this shard's queue (it would run after, and a
    /// write of its own before WATCH must not count as a change).
    pub fn may_watch(&self, client: u64, via: usize) -> bool {
        !self.locks.active()
            || self.locks.may_go(&Claim {
                client,
                via: via as u32,
                ..Claim::default()
            })
    }

    /// Queues a WATCH registration behind the client's waiting commands.
    pub fn defer_watch(
        &mut self,
        to: Option<usize>,
        dest: Dest,
        client: u64,
        db: u32,
        keys: OwnedArgs,
    ) {
        let claim = Claim {
            client,
            via: to.unwrap_or(self.id) as u32,
            ..Claim::default()
        };
        self.locks
            .enqueue(claim, Wait::Watch { to, dest, db, keys });
    }

    /// Registers a WATCH and answers `+OK` to its part.
    pub fn register_watch(
        &mut self,
        wire: &mut impl Wire<S>,
        to: Option<usize>,
        dest: Dest,
        client: u64,
        db: u32,
        keys: Args<'_>,
    ) {
        let watcher = crate::lock::owner(client, to.unwrap_or(self.id) as u32);
        for k in keys.iter() {
            self.svc.watch(&mut self.shard, watcher, db, k);
        }
        match to {
            Some(peer) => {
                let out = wire.batch(peer);
                let start = out.rdata.len() as u32;
                out.rdata.extend_from_slice(b"+OK\r\n");
                out.resps.push(Resp::Reply {
                    dest,
                    start,
                    len: 5,
                });
            }
            None => {
                let start = self.local_data.len() as u32;
                self.local_data.extend_from_slice(b"+OK\r\n");
                self.local.push(Local::Reply {
                    dest,
                    start,
                    len: 5,
                });
            }
        }
    }
}
