//! Transactions, on both sides: the coordinator's state machine (MULTI
//! queueing, WATCH, EXEC, and multi-key commands whose keys span shards),
//! and the lock table's waiters on every shard. The scheme and why it is
//! atomic, deadlock-free and fair is in the crate doc ("Transactions").

use super::{route_keys, Reactor};
use crate::conn::{ConnState, MultiQueue, QUERY_BUF_LIMIT};
use crate::exec::{self, Effects};
use crate::fold::FanOut;
use crate::lock::{key_id, tx_id, Claim, TxId};
use crate::msg::{Dest, Req, Resp};
use crate::service::{ClientCtx, ConnAction, Fold, InMulti, Refused, Route, Service, TxOp};
use crate::slot::shard_of;
use kevy_resp::{Args, OwnedArgs, Reply};
use std::collections::HashSet;

const NESTED: &[u8] = b"ERR MULTI calls can not be nested";
const EXEC_WITHOUT: &[u8] = b"ERR EXEC without MULTI";
const DISCARD_WITHOUT: &[u8] = b"ERR DISCARD without MULTI";
const EXECABORT: &[u8] = b"EXECABORT Transaction discarded because of previous errors.";
const WATCH_IN_MULTI: &[u8] = b"ERR WATCH inside MULTI is not allowed";
const NOT_IN_MULTI: &[u8] = b"ERR Command not allowed inside a transaction";
/// Redis refuses MONITOR while a transaction runs (it cannot block there).
const MONITOR_IN_TX: &[u8] = b"ERR MONITOR isn't allowed for DENY BLOCKING client";

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

/// A transaction command's reply as it comes together.
enum Part {
    Wait,
    Fan(Box<FanOut>),
    Ready(Vec<u8>),
}

/// A command run by copy, waiting for copies of its keys.
struct ByCopy<S: Service> {
    step: usize,
    waiting: usize,
    snaps: Vec<(Vec<u8>, S::Snapshot)>,
    /// A whole-keyspace command that names its keys as it reads them
    /// ([`Service::copy_keys`]): the scratch shard holding the rounds
    /// loaded so far, and every key asked for.
    discover: Option<Discover<S>>,
}

struct Discover<S: Service> {
    scratch: S::Shard,
    asked: HashSet<Vec<u8>, ahash::RandomState>,
}

/// How a multi-key command splits over shards: per shard, the ordinals of
/// its keys, and each key's argument position.
struct Split {
    step: usize,
    groups: Vec<(usize, Vec<u32>)>,
    keys_at: Vec<usize>,
}

/// One queued command with its route (or the error that replaces it).
type Step<S> = (<S as Service>::Cmd, OwnedArgs, Result<Route, Vec<u8>>);

/// A transaction this reactor coordinates.
pub(super) struct Tx<S: Service> {
    id: TxId,
    conn: u32,
    gen: u32,
    seq: u64,
    /// The connection's facts as of the command being sent (SELECT inside
    /// the transaction changes the database of the commands after it).
    client: ClientCtx,
    /// EXEC (array reply, WATCH check) rather than one multi-key command.
    exec: bool,
    steps: Vec<Step<S>>,
    /// Locks to take, in increasing shard order.
    plan: Vec<(usize, Claim)>,
    /// Entries of `plan` held so far.
    next_lock: usize,
    /// Ask each shard whether a WATCHed key changed.
    watch: bool,
    /// A WATCHed key changed: EXEC runs nothing and answers null.
    changed: bool,
    /// Each shard runs its commands as soon as its locks are held (see
    /// `start_tx`), instead of after every lock is held.
    early: bool,
    /// The plan entry whose shard unlocks by itself after its commands.
    self_unlocked: Option<usize>,
    /// The connection reads nothing more until this transaction has sent
    /// everything (see the crate doc); only one such per connection.
    blocks: bool,
    /// Next step to send.
    pc: usize,
    parts: Vec<Part>,
    /// Replies still to come from other shards.
    pending: usize,
    copy: Option<ByCopy<S>>,
    /// Split plans of commands sent one shard at a time (early).
    splits: Vec<Split>,
    released: bool,
}

impl<S: Service> Reactor<S> {
    // ---- the lock table ------------------------------------------------

    /// What a command touches on this shard, from the command table.
    fn claim_for(&self, client: &ClientCtx, args: Args<'_>) -> Claim {
        let mut claim = Claim {
            client: client.id,
            ..Claim::default()
        };
        if let Ok((cmd, route)) = self.svc.route(args, client, self.n) {
            claim.read = self.svc.reads_only(cmd);
            match route {
                Route::Keys { .. } => {
                    claim.keys = route_keys(&route, args)
                        .filter(|k| shard_of(k, self.n) == self.id)
                        .map(key_id)
                        .collect();
                }
                Route::All(_) | Route::Shard(_) => claim.whole = true,
                Route::Conn | Route::Tx(_) | Route::Clients { .. } => {}
            }
        }
        claim
    }

    /// Queues a command whose keys are held or waited for, to run once they
    /// are free; false (and nothing queued) when it may run now. Only asked
    /// while the lock table is active.
    pub(super) fn defer_if_locked(
        &mut self,
        to: Option<usize>,
        dest: Dest,
        cmd: S::Cmd,
        client: ClientCtx,
        args: Args<'_>,
    ) -> bool {
        let claim = self.claim_for(&client, args);
        if self.locks.may_go(&claim) {
            return false;
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

    /// Runs a command for peer shard `peer`, its reply appended to the
    /// batch going back there; returns the reply's span in `rdata`.
    pub(super) fn exec_for_peer(
        &mut self,
        peer: usize,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: Args<'_>,
    ) -> (u32, u32) {
        self.exec_for_peer_part(peer, client, cmd, args, 0)
    }

    /// As [`exec_for_peer`](Self::exec_for_peer), for part `part` of a
    /// command split over shards.
    pub(super) fn exec_for_peer_part(
        &mut self,
        peer: usize,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: Args<'_>,
        part: u32,
    ) -> (u32, u32) {
        let out = self.mesh.batch(peer);
        let start = out.rdata.len();
        exec::run(
            &*self.svc,
            &mut self.shard,
            &mut self.effects,
            client,
            cmd,
            args,
            part,
            &mut out.rdata,
        );
        (start as u32, (out.rdata.len() - start) as u32)
    }

    /// A transaction's lock request for this shard; false when it waits
    /// (its commands behind it in the batch then wait with it). `last`: the
    /// request is followed in its batch by all of the transaction's
    /// commands here and its unlock, so when it may go at once it runs
    /// them back to back without entering the lock table (nothing else
    /// runs on this reactor in between).
    pub(super) fn lock_request(
        &mut self,
        from: usize,
        op: u32,
        claim: Claim,
        watch: bool,
        last: bool,
    ) -> bool {
        if self.locks.may_go(&claim) {
            if last && !watch {
                self.batch(from)
                    .resps
                    .push(Resp::Locked { op, changed: false });
            } else {
                self.grant_lock(from, op, claim, watch);
            }
            true
        } else {
            self.locks.enqueue(
                claim,
                Wait::Lock {
                    from,
                    op,
                    watch,
                    then: Vec::new(),
                    unlock: false,
                },
            );
            false
        }
    }

    /// Attaches a transaction command to its lock request, queued last.
    pub(super) fn attach(
        &mut self,
        part: u32,
        sub: u32,
        cmd: S::Cmd,
        client: ClientCtx,
        args: Args<'_>,
    ) {
        if let Some(Wait::Lock { then, .. }) = self.locks.last_queued_mut() {
            then.push(Attached {
                part,
                sub,
                cmd,
                client,
                args: args.to_owned_args(),
            });
        }
    }

    /// Marks the lock request queued last to release after its commands.
    pub(super) fn attach_unlock(&mut self) {
        if let Some(Wait::Lock { unlock, .. }) = self.locks.last_queued_mut() {
            *unlock = true;
        }
    }

    /// Runs a transaction command of shard `from` (its locks are held).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_tx_cmd(
        &mut self,
        from: usize,
        op: u32,
        part: u32,
        sub: u32,
        cmd: S::Cmd,
        client: &ClientCtx,
        args: Args<'_>,
    ) {
        let (start, len) = self.exec_for_peer_part(from, client, cmd, args, sub);
        self.batch(from).resps.push(Resp::TxReply {
            op,
            part,
            sub,
            start,
            len,
        });
    }

    fn grant_lock(&mut self, from: usize, op: u32, claim: Claim, watch: bool) {
        let changed = watch && self.svc.watch_changed(&mut self.shard, claim.client);
        self.locks.hold(tx_id(from, op), claim);
        if from == self.id {
            self.tx_locked(op, changed);
        } else {
            self.batch(from).resps.push(Resp::Locked { op, changed });
        }
    }

    /// Releases a transaction's locks here and lets waiters go.
    pub(super) fn unlock(&mut self, owner: TxId) {
        self.locks.release(owner);
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
                    } => self.run_deferred(to, dest, cmd, client, &args),
                    Wait::Watch { to, dest, db, keys } => {
                        self.register_watch(to, dest, w.claim.client, db, keys.args())
                    }
                    Wait::Lock {
                        from,
                        op,
                        watch,
                        then,
                        unlock,
                    } => {
                        self.grant_lock(from, op, w.claim, watch);
                        for a in then {
                            self.run_tx_cmd(
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
    }

    fn run_deferred(
        &mut self,
        to: Option<usize>,
        dest: Dest,
        cmd: S::Cmd,
        client: ClientCtx,
        args: &OwnedArgs,
    ) {
        match to {
            Some(peer) => {
                let (start, len) = self.exec_for_peer(peer, &client, cmd, args.args());
                self.batch(peer)
                    .resps
                    .push(Resp::Reply { dest, start, len });
            }
            None => {
                let mut v = self.pool.get();
                exec::run(
                    &*self.svc,
                    &mut self.shard,
                    &mut self.effects,
                    &client,
                    cmd,
                    args.args(),
                    0,
                    &mut v,
                );
                self.deliver_local(dest, &v);
                self.pool.put(v);
            }
        }
    }

    // ---- MULTI, EXEC, DISCARD, WATCH, UNWATCH --------------------------

    /// A command arriving between MULTI and EXEC.
    pub(super) fn dispatch_in_multi(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        args: Args<'_>,
    ) {
        match self.svc.resolve(args) {
            Err(Refused {
                tx: Some(TxOp::Exec),
                msg,
            }) => {
                self.svc.refused(&mut self.shard, args, &msg);
                self.exec_abort(st, &msg)
            }
            Err(Refused { msg, .. }) => {
                self.svc.refused(&mut self.shard, args, &msg);
                abort_multi(st);
                self.push_error(st, &msg);
            }
            Ok((_, InMulti::Reject)) => {
                self.svc.refused(&mut self.shard, args, NOT_IN_MULTI);
                abort_multi(st);
                self.push_error(st, NOT_IN_MULTI);
            }
            Ok((cmd, InMulti::Queue)) => {
                st.last_cmd = Some(cmd);
                let Some(q) = st.multi.as_mut() else {
                    return;
                };
                let owned = args.to_owned_args();
                // Argument bytes, their spans, and the entry's own vectors.
                q.bytes += owned.buf.len()
                    + owned.spans.len() * std::mem::size_of::<kevy_resp::Span>()
                    + 64;
                if q.bytes > QUERY_BUF_LIMIT {
                    // A client cannot grow the server's memory without
                    // bound: as for an oversized query buffer, it is closed.
                    st.multi = None;
                    st.closing = true;
                    return;
                }
                q.cmds.push((cmd, owned));
                st.push_ready(b"+QUEUED\r\n");
            }
            Ok((_, InMulti::Run)) => match self.svc.route(args, &st.client, self.n) {
                Ok((cmd, route)) => self.run_routed(idx, gen, st, cmd, route, args),
                Err(msg) => {
                    self.svc.refused(&mut self.shard, args, &msg);
                    self.push_error(st, &msg)
                }
            },
        }
    }

    /// EXEC refused before it runs (wrong arity): Redis discards the
    /// transaction, if any, and the WATCHes (execCommandAbort).
    pub(super) fn exec_abort(&mut self, st: &mut ConnState<S>, msg: &[u8]) {
        st.multi = None;
        self.unwatch_all(st);
        let msg = msg.strip_prefix(b"ERR ").unwrap_or(msg);
        let mut text = b"EXECABORT Transaction discarded because of: ".to_vec();
        text.extend_from_slice(msg);
        self.push_error(st, &text);
    }

    /// Runs MULTI, EXEC, DISCARD, WATCH or UNWATCH; the error it answered,
    /// if any.
    pub(super) fn tx_control(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        op: TxOp,
        args: Args<'_>,
    ) -> Option<&'static [u8]> {
        let fail = |r: &mut Self, st: &mut ConnState<S>, msg: &'static [u8]| {
            r.push_error(st, msg);
            Some(msg)
        };
        match op {
            TxOp::Multi => {
                if st.multi.is_some() {
                    return fail(self, st, NESTED);
                }
                st.multi = Some(MultiQueue {
                    cmds: Vec::new(),
                    bytes: 0,
                    aborted: false,
                });
            }
            TxOp::Discard => {
                if st.multi.take().is_none() {
                    return fail(self, st, DISCARD_WITHOUT);
                }
                self.unwatch_all(st);
            }
            TxOp::Exec => {
                let q = st.multi.take();
                if self.monitored() {
                    let queued = match &q {
                        Some(q) if !q.aborted => &q.cmds[..],
                        _ => &[],
                    };
                    self.feed_exec(&st.client, queued);
                }
                return match q {
                    None => fail(self, st, EXEC_WITHOUT),
                    Some(q) if q.aborted => {
                        self.unwatch_all(st);
                        fail(self, st, EXECABORT)
                    }
                    Some(q) => {
                        self.start_tx(idx, gen, st, q.cmds, true);
                        None
                    }
                };
            }
            TxOp::Watch => {
                if st.multi.is_some() {
                    return fail(self, st, WATCH_IN_MULTI);
                }
                self.watch(idx, gen, st, args);
                return None;
            }
            TxOp::Unwatch => self.unwatch_all(st),
        }
        st.push_ready(b"+OK\r\n");
        None
    }

    /// WATCH: registers each key with its shard; answers once all did.
    fn watch(&mut self, idx: u32, gen: u32, st: &mut ConnState<S>, args: Args<'_>) {
        let db = st.client.db;
        let client = st.client.id;
        // Keys to register, per shard.
        let mut groups: Vec<(usize, OwnedArgs)> = Vec::new();
        for k in args.iter().skip(1) {
            if st.watched.iter().any(|(d, w)| *d == db && w == k) {
                continue;
            }
            st.watched.push((db, k.to_vec()));
            let s = shard_of(k, self.n);
            match groups.iter_mut().find(|g| g.0 == s) {
                Some(g) => g.1.push(k),
                None => {
                    let mut keys = OwnedArgs::default();
                    keys.push(k);
                    groups.push((s, keys));
                }
            }
        }
        let local_now = |r: &Self| !r.locks.active() || r.may_watch(client);
        if groups.iter().all(|g| g.0 == self.id) && local_now(self) {
            for (_, keys) in &groups {
                for k in keys.args().iter() {
                    self.svc.watch(&mut self.shard, client, db, k);
                }
            }
            return st.push_ready(b"+OK\r\n");
        }
        let seq = st.next_seq();
        let mut fo = FanOut::new(Fold::AllOk, groups.len());
        for (p, (s, keys)) in groups.into_iter().enumerate() {
            let dest = Dest {
                conn: idx,
                gen,
                seq,
                part: p as u32,
            };
            if s == self.id {
                if local_now(self) {
                    for k in keys.args().iter() {
                        self.svc.watch(&mut self.shard, client, db, k);
                    }
                    fo.add_owned(p, b"+OK\r\n".to_vec());
                } else {
                    self.defer_watch(None, dest, client, db, keys);
                }
                continue;
            }
            let b = self.batch(s);
            let (first, n) = b.push_args(keys.args().iter());
            b.reqs.push(Req::Watch {
                dest,
                client,
                db,
                first,
                n,
            });
        }
        self.push_fan(st, fo);
    }

    /// Whether a WATCH of `client` may register now: nothing the client
    /// sent earlier waits in this shard's queue (it would run after, and a
    /// write of its own before WATCH must not count as a change).
    pub(super) fn may_watch(&self, client: u64) -> bool {
        self.locks.may_go(&Claim {
            client,
            ..Claim::default()
        })
    }

    /// Queues a WATCH registration behind the client's waiting commands.
    pub(super) fn defer_watch(
        &mut self,
        to: Option<usize>,
        dest: Dest,
        client: u64,
        db: u32,
        keys: OwnedArgs,
    ) {
        let claim = Claim {
            client,
            ..Claim::default()
        };
        self.locks
            .enqueue(claim, Wait::Watch { to, dest, db, keys });
    }

    /// Registers a WATCH and answers `+OK` to its part.
    pub(super) fn register_watch(
        &mut self,
        to: Option<usize>,
        dest: Dest,
        client: u64,
        db: u32,
        keys: Args<'_>,
    ) {
        for k in keys.iter() {
            self.svc.watch(&mut self.shard, client, db, k);
        }
        match to {
            Some(peer) => {
                let out = self.batch(peer);
                let start = out.rdata.len() as u32;
                out.rdata.extend_from_slice(b"+OK\r\n");
                out.resps.push(Resp::Reply {
                    dest,
                    start,
                    len: 5,
                });
            }
            None => self.deliver_local(dest, b"+OK\r\n"),
        }
    }

    /// Drops every WATCH of the connection, on every shard that has one.
    pub(super) fn unwatch_all(&mut self, st: &mut ConnState<S>) {
        let watched = std::mem::take(&mut st.watched);
        self.unwatch_keys(st.client.id, watched);
    }

    fn unwatch_keys(&mut self, client: u64, watched: Vec<(u32, Vec<u8>)>) {
        let mut done: Vec<usize> = Vec::new();
        for (_, k) in watched {
            let s = shard_of(&k, self.n);
            if done.contains(&s) {
                continue;
            }
            done.push(s);
            if s == self.id {
                self.svc.unwatch(&mut self.shard, client);
            } else {
                self.batch(s).reqs.push(Req::Unwatch { client });
            }
        }
    }

    // ---- the coordinator -------------------------------------------------

    /// Runs `cmds` atomically: EXEC's queue (`exec`) or one multi-key
    /// command whose keys span shards.
    pub(super) fn start_tx(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        cmds: Vec<(S::Cmd, OwnedArgs)>,
        exec: bool,
    ) {
        let n = self.n;
        let steps: Vec<Step<S>> = cmds
            .into_iter()
            .map(|(cmd, args)| {
                // Inside a transaction CLIENT LIST/INFO/KILL run as
                // connection commands: they see the calling connection only.
                let route = self
                    .svc
                    .route(args.args(), &st.client, n)
                    .map(|r| match r.1 {
                        Route::Clients { .. } => Route::Conn,
                        r => r,
                    });
                (cmd, args, route)
            })
            .collect();
        let mut claims: Vec<Claim> = (0..n)
            .map(|_| Claim {
                client: st.client.id,
                read: true,
                ..Claim::default()
            })
            .collect();
        let mut involved = vec![false; n];
        for (cmd, args, route) in &steps {
            match route {
                Ok(r @ Route::Keys { .. }) => {
                    let read = self.svc.reads_only(*cmd);
                    for k in route_keys(r, args.args()) {
                        let s = shard_of(k, n);
                        claims[s].keys.push(key_id(k));
                        claims[s].read &= read;
                        involved[s] = true;
                    }
                }
                Ok(Route::All(_)) => {
                    for s in 0..n {
                        claims[s].whole = true;
                        involved[s] = true;
                    }
                }
                Ok(Route::Shard(s)) => {
                    claims[s % n].whole = true;
                    involved[s % n] = true;
                }
                _ => {}
            }
        }
        let watch = exec && !st.watched.is_empty();
        if watch {
            for (_, k) in &st.watched {
                let s = shard_of(k, n);
                claims[s].keys.push(key_id(k));
                involved[s] = true;
            }
        }
        for c in &mut claims {
            c.keys.sort_unstable();
            c.keys.dedup();
        }
        // Commands may run as each shard's locks are taken (rather than once
        // all are) when nothing can make the transaction back out or needs
        // another shard's result: no WATCH, no connection command (SELECT
        // changes later commands' database), no command run by copy.
        let early = !watch
            && involved.contains(&true)
            && steps.iter().all(|(_, args, route)| match route {
                Err(_) | Ok(Route::Tx(_)) | Ok(Route::Shard(_)) => true,
                Ok(Route::All(fold)) => *fold != Fold::One,
                Ok(Route::Conn) | Ok(Route::Clients { .. }) => false,
                Ok(r @ Route::Keys { fold, .. }) => {
                    let mut shards = route_keys(r, args.args()).map(|k| shard_of(k, n));
                    match shards.next() {
                        None => false,
                        Some(first) => *fold != Fold::One || shards.all(|s| s == first),
                    }
                }
            });
        let home_only = involved
            .iter()
            .enumerate()
            .all(|(s, &i)| !i || s == self.id);
        if home_only && (!self.locks.active() || self.locks.may_go(&claims[self.id])) {
            // The fast path: nothing else can run on this reactor meanwhile.
            return self.run_inline(st, &steps, exec, watch);
        }
        let op = match self.free_txs.pop() {
            Some(op) => op,
            None => {
                self.txs.push(None);
                (self.txs.len() - 1) as u32
            }
        };
        let seq = st.next_seq();
        st.await_remote();
        st.blocked = true;
        let plan = claims
            .into_iter()
            .enumerate()
            .filter(|(s, _)| involved[*s])
            .collect();
        let nsteps = steps.len();
        self.txs[op as usize] = Some(Tx {
            id: tx_id(self.id, op),
            conn: idx,
            gen,
            seq,
            client: st.client,
            exec,
            steps,
            plan,
            next_lock: 0,
            watch,
            changed: false,
            early,
            self_unlocked: None,
            blocks: true,
            pc: 0,
            parts: (0..nsteps).map(|_| Part::Wait).collect(),
            pending: 0,
            copy: None,
            splits: Vec::new(),
            released: false,
        });
        self.lock_next(op);
        if let Some(tx) = self.txs[op as usize].as_mut() {
            if all_sent(tx, self.id) {
                tx.blocks = false;
                st.blocked = false;
            }
        }
    }

    /// Every key is on this shard and free: run the commands back to back.
    fn run_inline(&mut self, st: &mut ConnState<S>, steps: &[Step<S>], exec: bool, watch: bool) {
        let mut out = self.pool.get();
        if watch && self.svc.watch_changed(&mut self.shard, st.client.id) {
            Reply::new(&mut out, st.client.resp3).null_array();
        } else {
            if exec {
                Reply::new(&mut out, st.client.resp3).array(steps.len());
            }
            for (cmd, args, route) in steps {
                match route {
                    Err(msg) => Reply::new(&mut out, st.client.resp3).error_bytes(msg),
                    Ok(Route::Conn) => {
                        let start = out.len();
                        let a = self.svc.exec_conn(
                            &mut self.shard,
                            &mut st.client,
                            &mut st.session,
                            *cmd,
                            args.args(),
                            &mut out,
                        );
                        match a {
                            ConnAction::Close => st.closing = true,
                            ConnAction::Monitor => {
                                out.truncate(start);
                                Reply::new(&mut out, st.client.resp3).error_bytes(MONITOR_IN_TX);
                            }
                            _ => {}
                        }
                    }
                    // UNWATCH inside the transaction: EXEC unwatches anyway.
                    Ok(Route::Tx(_)) => out.extend_from_slice(b"+OK\r\n"),
                    Ok(_) => exec::run(
                        &*self.svc,
                        &mut self.shard,
                        &mut self.effects,
                        &st.client,
                        *cmd,
                        args.args(),
                        0,
                        &mut out,
                    ),
                }
            }
        }
        if exec {
            self.unwatch_all(st);
        }
        st.push_ready(&out);
        self.pool.put(out);
    }

    /// Requests the next locks of the plan: the home shard's inline, the
    /// others by message; one shard at a time, in shard order. An early
    /// transaction's commands for a shard go with its lock request (and the
    /// last shard unlocks itself behind them).
    fn lock_next(&mut self, op: u32) {
        loop {
            let Some(mut tx) = self.txs[op as usize].take() else {
                return;
            };
            if tx.next_lock == tx.plan.len() {
                self.txs[op as usize] = Some(tx);
                self.tx_runnable.push(op);
                return;
            }
            let (s, claim) = {
                let e = &mut tx.plan[tx.next_lock];
                (e.0, std::mem::take(&mut e.1))
            };
            let watch = tx.watch;
            if s == self.id {
                if !self.locks.may_go(&claim) {
                    self.locks.enqueue(
                        claim,
                        Wait::Lock {
                            from: self.id,
                            op,
                            watch,
                            then: Vec::new(),
                            unlock: false,
                        },
                    );
                    self.txs[op as usize] = Some(tx);
                    return;
                }
                let changed = watch && self.svc.watch_changed(&mut self.shard, claim.client);
                // The last shard of an early transaction runs its commands
                // right now, back to back, and lets go: nothing can run in
                // between, so it needs no entry in the lock table.
                if !(tx.early && tx.next_lock + 1 == tx.plan.len()) {
                    self.locks.hold(tx.id, claim);
                }
                tx.changed |= changed;
                self.locks_held(op, &mut tx);
                self.txs[op as usize] = Some(tx);
                continue;
            }
            let b = self.mesh.batch(s);
            let first = b.lock_keys.len() as u32;
            b.lock_keys.extend_from_slice(&claim.keys);
            let n = claim.keys.len() as u32;
            let last = tx.early && tx.next_lock + 1 == tx.plan.len();
            b.reqs.push(Req::Lock {
                op,
                client: claim.client,
                whole: claim.whole,
                read: claim.read,
                watch,
                last,
                first,
                n,
            });
            if tx.early {
                self.send_steps_on(op, &mut tx, s);
                if tx.next_lock + 1 == tx.plan.len() {
                    self.batch(s).reqs.push(Req::Unlock { op });
                    tx.self_unlocked = Some(tx.next_lock);
                }
            }
            self.txs[op as usize] = Some(tx);
            return;
        }
    }

    /// The current plan entry's locks are held: an early transaction runs
    /// its commands there (a remote shard already did, on receipt).
    fn locks_held(&mut self, op: u32, tx: &mut Tx<S>) {
        let s = tx.plan[tx.next_lock].0;
        if tx.early && s == self.id {
            self.send_steps_on(op, tx, s);
        }
        tx.next_lock += 1;
    }

    /// Sends every part of every command that belongs on shard `s`.
    fn send_steps_on(&mut self, op: u32, tx: &mut Tx<S>, s: usize) {
        for i in 0..tx.steps.len() {
            self.send_step(op, tx, i, Some(s));
        }
    }

    /// The locks of the plan's current entry are held.
    pub(super) fn tx_locked(&mut self, op: u32, changed: bool) {
        let Some(mut tx) = self.txs.get_mut(op as usize).and_then(Option::take) else {
            return;
        };
        tx.changed |= changed;
        self.locks_held(op, &mut tx);
        self.txs[op as usize] = Some(tx);
        self.lock_next(op);
        let Some(tx) = self.txs[op as usize].as_mut() else {
            return;
        };
        if tx.blocks && all_sent(tx, self.id) && self.gens.get(tx.conn as usize) == Some(&tx.gen) {
            if let Some(c) = self.conns[tx.conn as usize].as_mut() {
                tx.blocks = false;
                c.st.blocked = false;
                if !c.in_ready {
                    c.in_ready = true;
                    self.ready.push(tx.conn);
                }
            }
        }
    }

    /// Advances every transaction that can make progress.
    pub(super) fn run_txs(&mut self) {
        while let Some(op) = self.tx_runnable.pop() {
            self.tx_advance(op);
        }
    }

    /// With every lock held: sends the commands in order, stopping at a
    /// command run by copy until its copies arrive; then releases the
    /// locks, and answers once every reply is in.
    fn tx_advance(&mut self, op: u32) {
        let Some(mut tx) = self.txs[op as usize].take() else {
            return;
        };
        if tx.next_lock < tx.plan.len() {
            self.txs[op as usize] = Some(tx);
            return;
        }
        if (tx.changed || tx.early) && !tx.released {
            // A watched key changed: run nothing. Early: all sent already.
            tx.pc = tx.steps.len();
        }
        loop {
            if let Some(c) = &tx.copy {
                if c.waiting > 0 {
                    self.txs[op as usize] = Some(tx);
                    return;
                }
                if !self.run_copy(op, &mut tx) {
                    // It named more keys; copies of them are on their way
                    // (or already in, when all are on this shard).
                    continue;
                }
            }
            if tx.pc == tx.steps.len() {
                break;
            }
            let i = tx.pc;
            tx.pc += 1;
            self.send_step(op, &mut tx, i, None);
        }
        if !tx.released {
            tx.released = true;
            for (e, &(s, _)) in tx.plan.iter().enumerate() {
                if tx.self_unlocked == Some(e) {
                    continue;
                }
                if s == self.id {
                    self.unlock(tx.id);
                } else {
                    self.batch(s).reqs.push(Req::Unlock { op });
                }
            }
        }
        if tx.pending == 0 {
            self.tx_finish(op, tx);
        } else {
            self.txs[op as usize] = Some(tx);
        }
    }

    /// Sends (or runs) transaction command `i`; with `only`, just its parts
    /// that belong on that shard.
    fn send_step(&mut self, op: u32, tx: &mut Tx<S>, i: usize, only: Option<usize>) {
        let cmd = tx.steps[i].0;
        let route = match &tx.steps[i].2 {
            Err(msg) => {
                let mut v = Vec::new();
                Reply::new(&mut v, tx.client.resp3).error_bytes(msg);
                tx.parts[i] = Part::Ready(v);
                return;
            }
            Ok(r) => *r,
        };
        // Lent out while the command is sent; a command run by copy reads it
        // again later.
        let owned = std::mem::take(&mut tx.steps[i].1);
        self.send_routed(op, tx, i, cmd, route, owned.args(), only);
        tx.steps[i].1 = owned;
    }

    #[allow(clippy::too_many_arguments)]
    fn send_routed(
        &mut self,
        op: u32,
        tx: &mut Tx<S>,
        i: usize,
        cmd: S::Cmd,
        route: Route,
        args: Args<'_>,
        only: Option<usize>,
    ) {
        if only.is_some() && matches!(route, Route::Conn | Route::Tx(_)) {
            // Not on any shard: answered once, when sent without a filter
            // (an early transaction has no connection commands).
            if matches!(route, Route::Tx(_)) && matches!(tx.parts[i], Part::Wait) {
                tx.parts[i] = Part::Ready(b"+OK\r\n".to_vec());
            }
            return;
        }
        match route {
            Route::Conn | Route::Clients { .. } => {
                let mut v = Vec::new();
                if self.gens.get(tx.conn as usize) == Some(&tx.gen) {
                    if let Some(c) = self.conns[tx.conn as usize].as_mut() {
                        let a = self.svc.exec_conn(
                            &mut self.shard,
                            &mut c.st.client,
                            &mut c.st.session,
                            cmd,
                            args,
                            &mut v,
                        );
                        match a {
                            ConnAction::Close => c.st.closing = true,
                            ConnAction::Monitor => {
                                v.clear();
                                Reply::new(&mut v, c.st.client.resp3).error_bytes(MONITOR_IN_TX);
                            }
                            _ => {}
                        }
                        tx.client = c.st.client;
                    }
                }
                tx.parts[i] = Part::Ready(v);
            }
            Route::Tx(_) => tx.parts[i] = Part::Ready(b"+OK\r\n".to_vec()),
            Route::Shard(s) => self.send_to(op, tx, i, 0, s % self.n, cmd, args, only),
            Route::All(Fold::One) => self.start_copy(op, tx, i, &route, args),
            Route::All(fold) => {
                if matches!(tx.parts[i], Part::Wait) {
                    let mut fo = FanOut::new(fold, self.n);
                    fo.seed = self.next_random();
                    tx.parts[i] = Part::Fan(Box::new(fo));
                }
                for s in 0..self.n {
                    self.send_to(op, tx, i, s as u32, s, cmd, args, only);
                }
            }
            Route::Keys { fold, .. } => {
                let mut shards: Vec<usize> = route_keys(&route, args)
                    .map(|k| shard_of(k, self.n))
                    .collect();
                shards.sort_unstable();
                shards.dedup();
                match shards.len() {
                    0 => self.send_to(op, tx, i, 0, self.id, cmd, args, only),
                    1 => self.send_to(op, tx, i, 0, shards[0], cmd, args, only),
                    _ if fold == Fold::One => self.start_copy(op, tx, i, &route, args),
                    _ => self.send_split(op, tx, i, cmd, args, &route, fold, only),
                }
            }
        }
    }

    /// Runs `args` on shard `s` as part `sub` of command `i`: inline here,
    /// else by message; nothing when `only` names another shard. With a
    /// fan-out part, `tx.parts[i]` is already its `Part::Fan`.
    #[allow(clippy::too_many_arguments)]
    fn send_to(
        &mut self,
        op: u32,
        tx: &mut Tx<S>,
        i: usize,
        sub: u32,
        s: usize,
        cmd: S::Cmd,
        args: Args<'_>,
        only: Option<usize>,
    ) {
        if only.is_some_and(|o| o != s) {
            return;
        }
        if s == self.id {
            let mut v = Vec::new();
            exec::run(
                &*self.svc,
                &mut self.shard,
                &mut self.effects,
                &tx.client,
                cmd,
                args,
                sub,
                &mut v,
            );
            add_reply(&mut tx.parts[i], sub, v);
            return;
        }
        tx.pending += 1;
        let client = tx.client;
        let b = self.batch(s);
        let (first, n) = b.push_args(args.iter());
        b.reqs.push(Req::TxExec {
            op,
            part: i as u32,
            sub,
            cmd,
            client,
            first,
            n,
        });
    }

    /// A splittable multi-key command (MGET, MSET, DEL, …): one part per
    /// owning shard, folded as the table says.
    #[allow(clippy::too_many_arguments)]
    fn send_split(
        &mut self,
        op: u32,
        tx: &mut Tx<S>,
        i: usize,
        cmd: S::Cmd,
        args: Args<'_>,
        route: &Route,
        fold: Fold,
        only: Option<usize>,
    ) {
        let Route::Keys {
            first, last, step, ..
        } = *route
        else {
            return;
        };
        let (first, last, step) = super::key_range(args.len(), first, last, step);
        // The split is planned once per command and kept: an early
        // transaction sends it one shard at a time.
        let split = match tx.splits.iter().position(|p| p.step == i) {
            Some(at) => tx.splits.swap_remove(at),
            None => {
                let nkeys = if last >= first {
                    (last.min(args.len().saturating_sub(1)) - first) / step + 1
                } else {
                    0
                };
                let mut split = Split {
                    step: i,
                    groups: Vec::with_capacity(2),
                    keys_at: Vec::with_capacity(nkeys),
                };
                let mut k = first;
                while k <= last && k < args.len() {
                    let s = shard_of(args.get(k), self.n);
                    let ordinal = split.keys_at.len() as u32;
                    match split.groups.iter_mut().find(|g| g.0 == s) {
                        Some(g) => g.1.push(ordinal),
                        None => {
                            let mut ords = Vec::with_capacity(nkeys);
                            ords.push(ordinal);
                            split.groups.push((s, ords));
                        }
                    }
                    split.keys_at.push(k);
                    k += step;
                }
                split
            }
        };
        let Split {
            ref groups,
            ref keys_at,
            ..
        } = split;
        let tail_from = keys_at
            .last()
            .map_or(args.len(), |&k| (k + step).min(args.len()));
        if matches!(tx.parts[i], Part::Wait) {
            let mut fo = FanOut::new(fold, groups.len());
            fo.total = keys_at.len();
            fo.map = groups.iter().map(|g| g.1.clone()).collect();
            tx.parts[i] = Part::Fan(Box::new(fo));
        }
        // A kept scratch buffer: no allocation per part once warm.
        let mut part = std::mem::take(&mut self.part_args);
        for (p, (s, ords)) in groups.iter().enumerate() {
            if only.is_some_and(|o| o != *s) {
                continue;
            }
            part.clear();
            for a in 0..first {
                part.push(args.get(a));
            }
            for &o in ords {
                let k = keys_at[o as usize];
                for a in k..(k + step).min(args.len()) {
                    part.push(args.get(a));
                }
            }
            for a in tail_from..args.len() {
                part.push(args.get(a));
            }
            self.send_to(op, tx, i, p as u32, *s, cmd, part.args(), None);
        }
        if part.buf.capacity() <= 64 * 1024 {
            self.part_args = part;
        }
        if only.is_some() {
            tx.splits.push(split);
        }
    }

    /// A command that needs keys of several shards in one place: fetch
    /// copies (the keys stay locked), run it when they are in. A
    /// whole-keyspace one starts with no key and names its keys as it
    /// reads them (see `run_copy`).
    fn start_copy(&mut self, op: u32, tx: &mut Tx<S>, i: usize, route: &Route, args: Args<'_>) {
        let mut keys: Vec<&[u8]> = route_keys(route, args).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut copy = ByCopy {
            step: i,
            waiting: 0,
            snaps: Vec::with_capacity(keys.len()),
            discover: matches!(route, Route::All(_)).then(|| Discover {
                scratch: self.svc.scratch(self.id, self.n),
                asked: HashSet::default(),
            }),
        };
        self.fetch_copies(op, &mut copy, &keys);
        tx.copy = Some(copy);
    }

    /// Asks each shard owning some of `keys` for copies of them; copies
    /// of this shard's keys are taken at once.
    fn fetch_copies(&mut self, op: u32, copy: &mut ByCopy<S>, keys: &[&[u8]]) {
        let mut shards: Vec<usize> = keys.iter().map(|k| shard_of(k, self.n)).collect();
        shards.sort_unstable();
        shards.dedup();
        for s in shards {
            let n = self.n;
            let mine = keys.iter().copied().filter(move |k| shard_of(k, n) == s);
            if s == self.id {
                for k in mine {
                    let snap = self.svc.export(&mut self.shard, k);
                    copy.snaps.push((k.to_vec(), snap));
                }
            } else {
                copy.waiting += 1;
                let b = self.batch(s);
                let (first, n) = b.push_args(mine);
                b.reqs.push(Req::Export { op, first, n });
            }
        }
    }

    /// Copies for a command run by copy arrived from one shard.
    pub(super) fn tx_exported(&mut self, op: u32, snaps: Vec<(Vec<u8>, S::Snapshot)>) {
        let Some(tx) = self.txs.get_mut(op as usize).and_then(Option::as_mut) else {
            return;
        };
        let Some(c) = tx.copy.as_mut() else {
            return;
        };
        c.snaps.extend(snaps);
        c.waiting -= 1;
        if c.waiting == 0 {
            self.tx_runnable.push(op);
        }
    }

    /// Every copy is in: run the command on a scratch shard and send the
    /// keys it wrote back to their owners (ahead of anything sent later);
    /// true. A whole-keyspace command that names keys not yet copied
    /// asks for them instead, and runs once a round names nothing new:
    /// false. Each round asks for at least one new key, so the rounds end
    /// as long as the command names finitely many (SORT names at most its
    /// sorted value's elements times its patterns).
    fn run_copy(&mut self, op: u32, tx: &mut Tx<S>) -> bool {
        let Some(mut c) = tx.copy.take() else {
            return true;
        };
        let (cmd, ref args, _) = tx.steps[c.step];
        let mut scratch = match c.discover.take() {
            Some(mut d) => {
                for (k, snap) in c.snaps.drain(..) {
                    self.svc.load(&mut d.scratch, &k, snap);
                }
                let mut named = self
                    .svc
                    .copy_keys(&mut d.scratch, &tx.client, cmd, args.args());
                named.retain(|k| d.asked.insert(k.clone()));
                if !named.is_empty() {
                    let keys: Vec<&[u8]> = named.iter().map(Vec::as_slice).collect();
                    self.fetch_copies(op, &mut c, &keys);
                    c.discover = Some(d);
                    tx.copy = Some(c);
                    return false;
                }
                d.scratch
            }
            None => {
                let mut scratch = self.svc.scratch(self.id, self.n);
                for (k, snap) in c.snaps {
                    self.svc.load(&mut scratch, &k, snap);
                }
                scratch
            }
        };
        let mut reply = Vec::new();
        // A scratch shard's effects are the keys it writes back (Import).
        let mut effects = Effects::default();
        exec::run(
            &*self.svc,
            &mut scratch,
            &mut effects,
            &tx.client,
            cmd,
            args.args(),
            0,
            &mut reply,
        );
        tx.parts[c.step] = Part::Ready(reply);
        for (k, snap) in self.svc.take_dirty(&mut scratch) {
            let s = shard_of(&k, self.n);
            if s == self.id {
                self.svc.import(&mut self.shard, &k, snap);
            } else {
                let b = self.batch(s);
                b.req_snaps.push((k, snap));
                b.reqs.push(Req::Import { n: 1 });
            }
        }
        true
    }

    /// A reply to a transaction command came back.
    pub(super) fn tx_reply(&mut self, op: u32, part: u32, sub: u32, bytes: &[u8]) {
        let Some(tx) = self.txs.get_mut(op as usize).and_then(Option::as_mut) else {
            return;
        };
        if let Some(p) = tx.parts.get_mut(part as usize) {
            add_reply(p, sub, bytes.to_vec());
        }
        tx.pending -= 1;
        if tx.pending == 0 && tx.released {
            if let Some(tx) = self.txs[op as usize].take() {
                self.tx_finish(op, tx);
            }
        }
    }

    /// Answers the connection and lets it read again.
    fn tx_finish(&mut self, op: u32, tx: Tx<S>) {
        self.free_txs.push(op);
        if self.gens.get(tx.conn as usize) != Some(&tx.gen) {
            return;
        }
        let Some(c) = self.conns[tx.conn as usize].as_mut() else {
            return;
        };
        let mut out = self.pool.get();
        let resp3 = c.st.client.resp3;
        if tx.changed {
            Reply::new(&mut out, resp3).null_array();
        } else {
            if tx.exec {
                Reply::new(&mut out, resp3).array(tx.parts.len());
            }
            for p in &tx.parts {
                if let Part::Ready(v) = p {
                    out.extend_from_slice(v);
                }
            }
        }
        if tx.blocks {
            c.st.blocked = false;
        }
        c.st.deliver(tx.seq, 0, &out, &mut self.pool);
        self.pool.put(out);
        let watched = if tx.exec {
            std::mem::take(&mut c.st.watched)
        } else {
            Vec::new()
        };
        let client = c.st.client.id;
        if !c.in_ready {
            c.in_ready = true;
            self.ready.push(tx.conn);
        }
        self.mark_write(tx.conn);
        self.unwatch_keys(client, watched);
    }
}

/// Whether everything `tx` sends is on its way: the connection may read
/// on, since each shard sees its later commands behind the transaction
/// (ring order, and a command waits behind its own connection's queued lock
/// request). Before that, a later command could overtake it on a shard not
/// yet asked. Unlocks still to come are harmless: a later command on a
/// locked key waits for them, and one on other keys cannot tell.
fn all_sent<S: Service>(tx: &Tx<S>, home: usize) -> bool {
    let len = tx.plan.len();
    tx.early
        && (tx.next_lock == len || (tx.next_lock + 1 == len && tx.plan[tx.next_lock].0 != home))
}

/// Records reply `v` of part `sub` into a transaction command's slot.
fn add_reply(p: &mut Part, sub: u32, v: Vec<u8>) {
    match p {
        Part::Fan(fo) => {
            if fo.add_owned(sub as usize, v) {
                let mut out = Vec::new();
                fo.finish(&mut out);
                *p = Part::Ready(out);
            }
        }
        _ => *p = Part::Ready(v),
    }
}

fn abort_multi<S: Service>(st: &mut ConnState<S>) {
    if let Some(q) = st.multi.as_mut() {
        q.aborted = true;
    }
}
