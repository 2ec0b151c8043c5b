//! Transactions on the connection's side: MULTI queueing, EXEC, DISCARD,
//! WATCH and UNWATCH, the fast path that runs a transaction inline, and
//! the glue between the reactor and its [`Coordinator`]: starting a
//! transaction, feeding it events, and doing what it asks for the
//! connection. The state machine itself is in `coord.rs`, the participant
//! side (locks, waiters) in `executor.rs`; the scheme and why it is atomic,
//! deadlock-free and fair is in the crate doc ("Transactions").

use super::coord::{pubsub_in_tx, Draft, Sharer, Step, ToConn};
use super::executor::Local;
use super::Reactor;
use crate::conn::{Chain, ConnState, MultiQueue, QUERY_BUF_LIMIT};
use crate::fold::FanOut;
use crate::msg::{Dest, Req, Resp};
use crate::service::{
    ClientCtx, ConnAction, Fold, InMulti, PubSubOp, Refused, Route, Service, TxOp,
};
use kevy_resp::{Args, OwnedArgs, Reply};
use std::net::SocketAddr;

const NESTED: &[u8] = b"ERR MULTI calls can not be nested";
const EXEC_WITHOUT: &[u8] = b"ERR EXEC without MULTI";
const DISCARD_WITHOUT: &[u8] = b"ERR DISCARD without MULTI";
const EXECABORT: &[u8] = b"EXECABORT Transaction discarded because of previous errors.";
const WATCH_IN_MULTI: &[u8] = b"ERR WATCH inside MULTI is not allowed";
const NOT_IN_MULTI: &[u8] = b"ERR Command not allowed inside a transaction";
/// Redis refuses MONITOR while a transaction runs (it cannot block there).
const MONITOR_IN_TX: &[u8] = b"ERR MONITOR isn't allowed for DENY BLOCKING client";

impl<S: Service> Reactor<S> {
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
                self.svc.refused(&mut self.ex.shard, args, &msg);
                self.exec_abort(st, &msg)
            }
            Err(Refused { msg, .. }) => {
                self.svc.refused(&mut self.ex.shard, args, &msg);
                abort_multi(st);
                self.push_error(st, &msg);
            }
            Ok((_, InMulti::Reject)) => {
                self.svc.refused(&mut self.ex.shard, args, NOT_IN_MULTI);
                abort_multi(st);
                self.push_error(st, NOT_IN_MULTI);
            }
            Ok((cmd, InMulti::Queue)) => {
                if let Some(msg) = self.svc.admit_memory(&mut self.ex.shard, cmd, true) {
                    self.svc.refused(&mut self.ex.shard, args, msg);
                    abort_multi(st);
                    return self.push_error(st, msg);
                }
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
                    st.set_multi(None);
                    st.closing = true;
                    return;
                }
                q.cmds.push((cmd, owned));
                st.push_ready(b"+QUEUED\r\n");
            }
            Ok((_, InMulti::Run)) => match self.svc.route(args, &st.client, self.n) {
                Ok((cmd, route)) => self.run_routed(idx, gen, st, cmd, route, args),
                Err(msg) => {
                    self.svc.refused(&mut self.ex.shard, args, &msg);
                    self.push_error(st, &msg)
                }
            },
        }
    }

    /// EXEC refused before it runs (wrong arity): Redis discards the
    /// transaction, if any, and the WATCHes (execCommandAbort).
    pub(super) fn exec_abort(&mut self, st: &mut ConnState<S>, msg: &[u8]) {
        st.set_multi(None);
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
                st.set_multi(Some(MultiQueue {
                    cmds: Vec::new(),
                    bytes: 0,
                    aborted: false,
                }));
            }
            TxOp::Discard => {
                if st.take_multi().is_none() {
                    return fail(self, st, DISCARD_WITHOUT);
                }
                self.unwatch_all(st);
            }
            TxOp::Exec => {
                let q = st.take_multi();
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
                        let mut queued = q.cmds.iter().map(|c| c.0);
                        if let Some(msg) = self.svc.admit_exec(&mut self.ex.shard, &mut queued) {
                            self.exec_abort(st, msg);
                            return Some(msg);
                        }
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
            let s = self.slots.shard_of(k);
            match groups.iter_mut().find(|g| g.0 == s) {
                Some(g) => g.1.push(k),
                None => {
                    let mut keys = OwnedArgs::default();
                    keys.push(k);
                    groups.push((s, keys));
                }
            }
        }
        // Watches are the connection's through its home, as locks are
        // (`lock::owner`): an UNWATCH still on its way from a home it has
        // left drops none of the watches it sets from here.
        let watcher = crate::lock::owner(client, self.id as u32);
        let local_now = |r: &Self| r.ex.may_watch(client, r.id);
        if groups.iter().all(|g| g.0 == self.id) && local_now(self) {
            for (_, keys) in &groups {
                for k in keys.args().iter() {
                    self.svc.watch(&mut self.ex.shard, watcher, db, k);
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
                        self.svc.watch(&mut self.ex.shard, watcher, db, k);
                    }
                    fo.add_owned(p, b"+OK\r\n".to_vec());
                } else {
                    self.ex.defer_watch(None, dest, client, db, keys);
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

    /// Drops every WATCH of the connection, on every shard that has one.
    pub(super) fn unwatch_all(&mut self, st: &mut ConnState<S>) {
        let watched = std::mem::take(&mut st.watched);
        self.unwatch_keys(st.client.id, watched);
    }

    fn unwatch_keys(&mut self, client: u64, watched: Vec<(u32, Vec<u8>)>) {
        let mut done: Vec<usize> = Vec::new();
        for (_, k) in watched {
            let s = self.slots.shard_of(&k);
            if done.contains(&s) {
                continue;
            }
            done.push(s);
            if s == self.id {
                let watcher = crate::lock::owner(client, self.id as u32);
                self.svc.unwatch(&mut self.ex.shard, watcher);
            } else {
                self.batch(s).reqs.push(Req::Unwatch { client });
            }
        }
    }

    // ---- the coordinator's side of the reactor ---------------------------

    /// Runs one command atomically whose keys span shards (or that reaches
    /// every shard), routed already as `route`, with its keys' shards as
    /// routing found them when it kept them (`shards`). Out of line: the
    /// inline path of a single-key command pays nothing for it.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_tx_routed(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        cmd: S::Cmd,
        route: Route,
        args: Args<'_>,
        shards: Option<&[u16]>,
    ) {
        if self.share(idx, gen, st, cmd, route, args) {
            return;
        }
        let draft = self
            .coord
            .draft_routed(&mut self.ex, &st.client, cmd, route, args, shards);
        self.start_draft(idx, gen, st, draft, false);
    }

    /// A read over shards that other connections may be sending too (crate
    /// doc, "Shared reads"): it takes the reply of this iteration's read
    /// of the same command, or leads a new one when it repeats a recent
    /// read, which starts once the iteration's connections have run
    /// ([`Self::start_shares`]). Until then the connection runs only
    /// requests that share it too ([`Self::shares_along`]). False when it
    /// runs on its own.
    fn share(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        cmd: S::Cmd,
        route: Route,
        args: Args<'_>,
    ) -> bool {
        let split = matches!(route, Route::Keys { fold, extra: 0, .. } if fold != Fold::One);
        // A connection riding a transaction waits for that one instead.
        let riding = st.ride.is_some_and(|r| r != SHARING);
        if !split
            || riding
            || st.multi.is_some()
            || st.client.tracking.on()
            || self.mesh.any_monitor()
            || !self.svc.shares(&self.ex.shard, cmd)
        {
            return false;
        }
        let found = self.share_group(st, args);
        let seq = st.next_seq();
        let gid = match found {
            Some(Err(())) => return false,
            Some(Ok(i)) => {
                let gid = self.shares[i].id;
                self.shares[i].sharers.push(Sharer {
                    conn: idx,
                    gen,
                    seq,
                });
                gid
            }
            None => {
                // Only a read seen a moment ago leads a group: one that is
                // not repeated (MGET of other keys each time) runs at once,
                // as if there were no groups, and its connection reads on.
                let h = read_digest(st, args);
                if self.shares.len() >= SHARE_GROUPS || !self.recent_reads.contains(&h) {
                    self.recent_reads[self.recent_at % RECENT_READS] = h;
                    self.recent_at = self.recent_at.wrapping_add(1);
                    return false;
                }
                // Unique across shards: a connection that moved here
                // keeps the number of a group of its old home.
                self.share_ids += 1;
                let id = (self.share_ids << 16) | self.id as u64;
                self.shares.push(ShareGroup {
                    id,
                    cmd,
                    route,
                    args: args.to_owned_args(),
                    client: st.client,
                    conn: idx,
                    gen,
                    seq,
                    sharers: Vec::new(),
                });
                id
            }
        };
        if !owed_in(st, gid) {
            st.share = Some((gid, seq));
        }
        st.await_remote();
        st.chain = None;
        st.ride = Some(SHARING);
        true
    }

    /// This iteration's group of the same read as `args` (same command,
    /// arguments, database and protocol), if there is one: `Ok` with its
    /// index when the connection may share it, `Err` when it may not (its
    /// own earlier commands must all have taken effect before the group
    /// reads: answered, or in the group; and the group has room).
    fn share_group(&self, st: &ConnState<S>, args: Args<'_>) -> Option<Result<usize, ()>> {
        let (db, resp3) = (st.client.db, st.client.resp3);
        let i = self.shares.iter().position(|g| {
            g.client.db == db && g.client.resp3 == resp3 && same_args(g.args.args(), args)
        })?;
        let g = &self.shares[i];
        let may = (st.nothing_pending() || owed_in(st, g.id)) && g.sharers.len() < SHARERS_CAP;
        Some(if may { Ok(i) } else { Err(()) })
    }

    /// Whether a connection whose request is in a shared read not yet
    /// started may run `args` now: only when it shares that read too.
    /// Anything else, even the same command run on its own, waits for the
    /// read to start (it could otherwise go ahead of the read, or make the
    /// connection wait for two transactions at once).
    pub(super) fn shares_along(&self, st: &ConnState<S>, args: Args<'_>) -> bool {
        matches!(self.share_group(st, args), Some(Ok(_)))
    }

    /// Starts this iteration's shared reads, each as its leader's
    /// transaction whose reply its sharers take too, and lets their
    /// connections run their other commands.
    pub(super) fn start_shares(&mut self) {
        let mut groups = std::mem::take(&mut self.shares);
        for g in groups.drain(..) {
            self.end_ride(g.conn, g.gen, SHARING);
            for s in &g.sharers {
                self.end_ride(s.conn, s.gen, SHARING);
            }
            let draft = self.coord.draft_routed(
                &mut self.ex,
                &g.client,
                g.cmd,
                g.route,
                g.args.args(),
                None,
            );
            let plan = match draft {
                Draft::Plan(plan) => plan,
                // Keys on one shard after all (the reactor sends only keys
                // that span): over the whole keyspace, which is correct.
                Draft::Inline { steps, .. } => self.coord.whole_exec(&g.client, steps, false),
            };
            let (op, blocks) =
                self.coord
                    .start(&mut self.ex, &mut self.mesh, plan, g.conn, g.gen, g.seq);
            // Until it has sent everything, its connection reads nothing
            // more (`all_sent`), and neither do its sharers': their next
            // commands must not run before its parts.
            if blocks {
                let conns = std::iter::once((g.conn, g.gen));
                for (conn, gen) in conns.chain(g.sharers.iter().map(|s| (s.conn, s.gen))) {
                    if let Some(c) = self.conn_at(conn, gen) {
                        c.st.blocked = true;
                    }
                }
            }
            self.coord.add_sharers(op, g.sharers);
        }
        if self.shares.is_empty() {
            self.shares = groups;
        }
        self.pump();
    }

    /// What a connection's request rides (transaction `ride`, or
    /// [`SHARING`] a shared read) has started or sent everything: the
    /// connection may run its other commands.
    fn end_ride(&mut self, conn: u32, gen: u32, ride: u32) {
        let Some(c) = self.conn_at(conn, gen) else {
            return;
        };
        if c.st.ride != Some(ride) {
            return;
        }
        c.st.ride = None;
        c.st.ride_held = false;
        if !c.in_ready {
            c.in_ready = true;
            self.ready.push(conn);
        }
    }

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
        let mut draft = self
            .coord
            .draft(&mut self.ex, &st.client, &st.watched, cmds, exec, true);
        if let Draft::Inline {
            publishes: true, ..
        } = draft
        {
            if self.subscribers_elsewhere() {
                // PUBLISH must reach other shards' subscribers and count
                // them: a coordinated transaction (rare, so planned twice).
                let Draft::Inline { steps, .. } = draft else {
                    return;
                };
                let cmds = steps.into_iter().map(|(c, a, _)| (c, a)).collect();
                draft = self
                    .coord
                    .draft(&mut self.ex, &st.client, &st.watched, cmds, exec, false);
            }
        }
        self.start_draft(idx, gen, st, draft, exec);
    }

    fn start_draft(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        draft: Draft<S>,
        exec: bool,
    ) {
        let plan = match draft {
            Draft::Inline {
                steps,
                watch,
                guarded,
                ..
            } => {
                if self.run_inline(idx, st, &steps, exec, watch, guarded) {
                    return;
                }
                // A script reached another shard: the attempt is taken
                // back, and the block runs over the whole keyspace.
                self.coord.whole_exec(&st.client, steps, watch)
            }
            Draft::Plan(plan) => plan,
        };
        let seq = st.next_seq();
        // Owed no earlier reply, the connection has nothing on its way
        // that the command must come after: it may join an open group
        // (crate doc, "Groups").
        let idle = st.nothing_pending();
        let done = seq - st.pending_count() as u64;
        st.await_remote();
        let plan = if idle && self.coord.has_open() {
            match self.coord.join(&mut self.ex, plan, idx, gen, seq) {
                Ok(_) => {
                    st.blocked = true;
                    return;
                }
                Err(plan) => plan,
            }
        } else {
            plan
        };
        // A split command on keys a transaction waits for rides it (crate
        // doc, "Riders"). The connection reads on: until that transaction
        // sent everything, only the same command on the same keys runs.
        let plan = if plan.is_split() && self.coord.can_ride() {
            match self.coord.ride(
                &mut self.ex,
                &mut self.mesh,
                plan,
                (idx, gen, seq),
                done,
                &mut st.chain,
                &mut st.ride_key,
            ) {
                Ok(op) => {
                    st.ride = Some(op);
                    return;
                }
                Err(plan) => plan,
            }
        } else {
            plan
        };
        let split = plan.is_split();
        let (op, blocks) = self
            .coord
            .start(&mut self.ex, &mut self.mesh, plan, idx, gen, seq);
        if split {
            match self.coord.chain_entry(op) {
                Some(digest) => Chain::extend(&mut st.chain, self.id as u32, digest, seq),
                None => st.chain = None,
            }
        }
        st.blocked = blocks;
    }

    /// Runs connection `conn`'s command `cmd` (its request `seq`) again as
    /// a whole-keyspace transaction by copy: its first run reached keys it
    /// could not and asked to (`Sink::escalate`; crate doc, "Scripts").
    /// `holds`: the connection reads nothing more until the answer (it
    /// did not while the first run was on its way). Whether it then waits.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn escalate(
        &mut self,
        conn: u32,
        gen: u32,
        seq: u64,
        client: ClientCtx,
        cmd: S::Cmd,
        args: OwnedArgs,
        holds: bool,
    ) -> bool {
        if self.gens.get(conn as usize) != Some(&gen) {
            // Gone: nobody to answer, and nothing was written.
            return false;
        }
        let plan = self.coord.escalated(&client, cmd, args, holds);
        let (_, blocks) = self
            .coord
            .start(&mut self.ex, &mut self.mesh, plan, conn, gen, seq);
        blocks
    }

    /// Serves connection `idx`'s blocked command `seq` (`cmd`, `args`),
    /// which an owner of the key it waits on woke and which also writes a
    /// key of another shard: it runs again as a transaction over all its
    /// keys (crate doc, "Blocking"). The connection's wait is claimed.
    pub(super) fn serve_woken(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        seq: u64,
        cmd: S::Cmd,
        args: OwnedArgs,
    ) {
        // Not inline: a draft then always plans.
        let draft = self.coord.draft(
            &mut self.ex,
            &st.client,
            &[],
            vec![(cmd, args)],
            false,
            false,
        );
        if let Draft::Plan(plan) = draft {
            self.coord.start(
                &mut self.ex,
                &mut self.mesh,
                plan.serving_woken(),
                idx,
                gen,
                seq,
            );
        }
    }

    /// Runs a command the server issues itself (`Service::internal_command`)
    /// as a client with no connection: a transaction when it needs one,
    /// its reply dropped.
    pub(super) fn run_internal(&mut self, args: OwnedArgs) {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        let client = ClientCtx {
            id: 0,
            db: 0,
            resp3: false,
            home: self.id as u32,
            peer: unspecified,
            local: unspecified,
            created_ms: self.now_ms,
            subscribed: false,
            unix: false,
            tracking: Default::default(),
            checked: false,
            no_touch: false,
        };
        let Ok((cmd, _)) = self.svc.route(args.args(), &client, self.n) else {
            return;
        };
        match self
            .coord
            .draft(&mut self.ex, &client, &[], vec![(cmd, args)], false, true)
        {
            Draft::Inline { steps, .. } => {
                let mut out = Vec::new();
                for (cmd, args, route) in &steps {
                    if route.is_ok() {
                        self.ex.run(&client, *cmd, args.args(), 0, &mut out);
                    }
                }
            }
            Draft::Plan(plan) => {
                // No connection has index u32::MAX: nobody is answered.
                self.coord
                    .start(&mut self.ex, &mut self.mesh, plan, u32::MAX, 0, 0);
            }
        }
        self.pump();
    }

    /// Whether a shard other than this one has subscribers.
    fn subscribers_elsewhere(&self) -> bool {
        (0..self.n).any(|s| s != self.id && self.mesh.has_subs(s))
    }

    /// Every key is on this shard and free (and no other shard has
    /// subscribers for a PUBLISH to reach): run the commands back to back.
    /// With `guarded`, the run is an attempt (see [`Draft::Inline`]):
    /// false when a script asked to run again over the whole keyspace,
    /// and then everything the block did is taken back and nothing is
    /// answered.
    fn run_inline(
        &mut self,
        idx: u32,
        st: &mut ConnState<S>,
        steps: &[Step<S>],
        exec: bool,
        watch: bool,
        guarded: bool,
    ) -> bool {
        let attempt = guarded.then(|| {
            self.svc.begin_attempt(&mut self.ex.shard);
            self.ex.effects.checkpoint()
        });
        let mut out = self.pool.get();
        // Its own messages follow EXEC's whole array (a push never goes
        // inside an aggregate), as Redis 7.2 sends them, unless a caller
        // already holds them (CLIENT REPLY) and releases them itself.
        let defer = exec && !st.defer_own;
        st.defer_own |= defer;
        let watcher = crate::lock::owner(st.client.id, self.id as u32);
        if watch && self.svc.watch_changed(&mut self.ex.shard, watcher) {
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
                            &mut self.ex.shard,
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
                            other => Self::conn_setting(&self.mesh, st, other),
                        }
                    }
                    // UNWATCH inside the transaction: EXEC unwatches anyway.
                    Ok(Route::Tx(_)) => out.extend_from_slice(b"+OK\r\n"),
                    Ok(Route::PubSub(ps)) if !pubsub_in_tx(*ps) => {
                        out.extend_from_slice(super::coord::PUBSUB_IN_TX)
                    }
                    Ok(Route::PubSub(ps @ (PubSubOp::Publish | PubSubOp::SPublish))) => {
                        let t0 = kevy_sys::clock::cycles();
                        let a = args.args();
                        let sharded = *ps == PubSubOp::SPublish;
                        // Keyspace events of the commands before it go first.
                        if !self.ex.effects.pushes.is_empty() {
                            self.deliver_pushes(Some((idx, &mut *st)));
                        }
                        let count = self.deliver(
                            self.id,
                            Some((idx, &mut *st)),
                            sharded,
                            a.get(1),
                            a.get(2),
                        );
                        Reply::new(&mut out, st.client.resp3).int(count as i64);
                        self.svc.ran_in_runtime(&mut self.ex.shard, *cmd, None, t0);
                    }
                    Ok(Route::PubSub(ps)) => {
                        let t0 = kevy_sys::clock::cycles();
                        self.introspect_into(st.client.resp3, *ps, args.args(), &mut out);
                        self.svc.ran_in_runtime(&mut self.ex.shard, *cmd, None, t0);
                    }
                    Ok(_) if attempt.is_some() && self.svc.reaches_undeclared(*cmd) => {
                        let client = st.client;
                        let o = &mut out;
                        let a = args.args();
                        let mut run = move |ex: &mut super::executor::Executor<S>| {
                            ex.run_plain(&client, *cmd, a, o) == Some(super::blocking::ESCALATE)
                        };
                        let again = if self.svc.runs_long(*cmd) {
                            self.lending(|ex, _, _| run(ex))
                        } else {
                            run(&mut self.ex)
                        };
                        if let (true, Some(c)) = (again, attempt) {
                            if defer {
                                st.end_defer_own();
                            }
                            self.svc.end_attempt(&mut self.ex.shard, true);
                            self.ex.effects.cut_back(c);
                            self.pool.put(out);
                            return false;
                        }
                    }
                    Ok(_) if self.svc.runs_long(*cmd) => {
                        let client = st.client;
                        let out = &mut out;
                        self.lending(|ex, _, _| ex.run(&client, *cmd, args.args(), 0, out));
                    }
                    Ok(_) => self.ex.run(&st.client, *cmd, args.args(), 0, &mut out),
                }
            }
        }
        if attempt.is_some() {
            self.svc.end_attempt(&mut self.ex.shard, false);
        }
        if exec {
            self.unwatch_all(st);
        }
        st.push_ready(&out);
        if defer {
            st.end_defer_own();
        }
        self.pool.put(out);
        true
    }

    /// Advances every transaction that can make progress.
    pub(super) fn run_txs(&mut self) {
        while let Some(op) = self.coord.next_runnable() {
            match self.coord.runs_long(op) {
                Some(conn) => self.advance_lending(op, conn),
                None => self.releasing(|ex, mesh, coord| coord.advance(ex, mesh, op)),
            }
            self.pump();
        }
    }

    /// Does what the executor and the coordinator left for this reactor,
    /// in order, until neither has anything left: replies for its
    /// connections, locks granted to its transactions, connection commands
    /// and answers of transactions.
    pub(super) fn pump(&mut self) {
        loop {
            if !self.ex.local.is_empty() {
                let mut local = std::mem::take(&mut self.ex.local);
                let mut data = std::mem::take(&mut self.ex.local_data);
                for l in local.drain(..) {
                    match l {
                        Local::Reply { dest, start, len } => {
                            let bytes = &data[start as usize..(start + len) as usize];
                            self.deliver_local(dest, bytes);
                        }
                        Local::Locked { op, changed } => {
                            self.coord.locked(&mut self.ex, &mut self.mesh, op, changed)
                        }
                        Local::Blocked {
                            dest,
                            client,
                            timeout,
                        } => {
                            let me = self.id;
                            self.start_wait(dest.conn, dest.gen, client, dest.seq, me, timeout)
                        }
                        Local::Escalate {
                            dest,
                            cmd,
                            client,
                            args,
                        } => {
                            let holds = self.unhold(dest);
                            self.escalate(dest.conn, dest.gen, dest.seq, client, cmd, args, holds);
                        }
                    }
                }
                data.clear();
                if self.ex.local.is_empty() {
                    self.ex.local = local;
                }
                if self.ex.local_data.is_empty() {
                    self.ex.local_data = data;
                }
                continue;
            }
            if self.coord.out.is_empty() {
                return;
            }
            // Drained in place of a new list: the buffer goes back for the
            // next round (unless the round left more, or it grew large).
            let mut out = std::mem::take(&mut self.coord.out);
            for o in out.drain(..) {
                self.for_conn(o);
            }
            if self.coord.out.is_empty() && out.capacity() <= 1024 {
                self.coord.out = out;
            }
        }
    }

    /// Does one thing a transaction asks for its connection.
    fn for_conn(&mut self, o: ToConn<S>) {
        match o {
            ToConn::Unblock { conn, gen } => {
                if let Some(c) = self.conn_at(conn, gen) {
                    c.st.blocked = false;
                    if !c.in_ready {
                        c.in_ready = true;
                        self.ready.push(conn);
                    }
                }
            }
            ToConn::RideSent { conn, gen, op } => self.end_ride(conn, gen, op),
            ToConn::ConnCmd { op } if self.coord.pubsub_step(op).is_some() => self.tx_pubsub(op),
            ToConn::ConnCmd { op } => {
                let mut v = Vec::new();
                let mut client = None;
                if let Some((conn, gen, cmd, args)) = self.coord.conn_cmd(op) {
                    if self.gens.get(conn as usize) == Some(&gen) {
                        if let Some(c) = self.conns[conn as usize].as_mut() {
                            let a = self.svc.exec_conn(
                                &mut self.ex.shard,
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
                                    Reply::new(&mut v, c.st.client.resp3)
                                        .error_bytes(MONITOR_IN_TX);
                                }
                                other => Self::conn_setting(&self.mesh, &mut c.st, other),
                            }
                            client = Some(c.st.client);
                        }
                    }
                }
                self.releasing(|ex, mesh, coord| coord.conn_ran(ex, mesh, op, client, v));
            }
            ToConn::Wait {
                conn,
                gen,
                seq,
                client,
                owners,
                timeout,
            } => {
                let live = self.gens.get(conn as usize) == Some(&gen);
                let c = live.then(|| self.conns.get_mut(conn as usize).and_then(Option::take));
                let Some(mut c) = c.flatten() else {
                    // Gone meanwhile: its owners let go of it.
                    for s in owners {
                        self.stop_waiter(s, client);
                    }
                    return;
                };
                c.st.blocked = false;
                self.start_wait_on(conn, gen, &mut c.st, seq, owners, timeout);
                self.conns[conn as usize] = Some(c);
                self.mark_write(conn);
            }
            ToConn::Rerun => {
                if let Some(r) = self.coord.reruns.pop_front() {
                    self.escalate(r.conn, r.gen, r.seq, r.client, r.cmd, r.args, r.holds);
                }
            }
            ToConn::Answer {
                conn,
                gen,
                seq,
                blocks,
                exec,
                reply,
            } => {
                self.tx_answer(conn, gen, seq, blocks, exec, &reply);
                self.coord.pool.put(reply);
            }
            ToConn::Shared {
                sharers,
                blocks,
                cmd,
                reply,
            } => {
                for s in &sharers {
                    self.tx_answer(s.conn, s.gen, s.seq, blocks, false, &reply);
                }
                self.svc
                    .shared(&mut self.ex.shard, cmd, &reply, sharers.len() as u64);
                self.coord.pool.put(reply);
            }
        }
    }

    /// A transaction's pub/sub command, in its turn: PUBLISH's delivery to
    /// this shard's subscribers (whether its connection is still there or
    /// not: the message goes out either way), or PUBSUB's answer.
    fn tx_pubsub(&mut self, op: u32) {
        let Some((cmd, ps, args, resp3, part)) = self.coord.pubsub_step(op) else {
            return;
        };
        let t0 = kevy_sys::clock::cycles();
        let args = args.to_owned_args();
        let args = args.args();
        let mut v = Vec::new();
        match ps {
            PubSubOp::Publish | PubSubOp::SPublish => {
                let sharded = ps == PubSubOp::SPublish;
                // The keyspace events of the commands before it go first,
                // here and on the rings to the other shards.
                if !self.ex.effects.pushes.is_empty() {
                    self.deliver_pushes(None);
                }
                let me = self.id;
                for s in (0..self.n).filter(move |&s| s != me) {
                    let b = self.batch(s);
                    let (first, n) = b.push_args([args.get(1), args.get(2)].into_iter());
                    b.reqs.push(Req::TxPublish {
                        op,
                        part,
                        sub: s as u32,
                        sharded,
                        first,
                        n,
                    });
                }
                let count = self.deliver(self.id, None, sharded, args.get(1), args.get(2));
                Reply::new(&mut v, resp3).int(count as i64);
            }
            _ => self.introspect_into(resp3, ps, args, &mut v),
        }
        self.svc.ran_in_runtime(&mut self.ex.shard, cmd, None, t0);
        self.releasing(|ex, mesh, coord| coord.conn_ran(ex, mesh, op, None, v));
    }

    /// A peer's transaction publishes (`Req::TxPublish`): deliver here and
    /// answer the count as that part of its command.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn publish_for_tx(
        &mut self,
        peer: usize,
        op: u32,
        part: u32,
        sub: u32,
        sharded: bool,
        channel: &[u8],
        message: &[u8],
    ) {
        if !self.ex.effects.pushes.is_empty() {
            self.deliver_pushes(None);
        }
        let count = self.deliver(peer, None, sharded, channel, message);
        let b = self.batch(peer);
        let start = b.rdata.len() as u32;
        Reply::new(&mut b.rdata, false).int(count as i64);
        let len = b.rdata.len() as u32 - start;
        b.resps.push(Resp::TxReply {
            op,
            part,
            sub,
            start,
            len,
        });
    }

    /// Answers a transaction's connection and lets it read again.
    fn tx_answer(&mut self, conn: u32, gen: u32, seq: u64, blocks: bool, exec: bool, reply: &[u8]) {
        if self.gens.get(conn as usize) != Some(&gen) {
            return;
        }
        let Some(c) = self.conns[conn as usize].as_mut() else {
            return;
        };
        if blocks {
            c.st.blocked = false;
        }
        c.st.deliver(seq, 0, reply, &mut self.pool);
        let watched = if exec {
            // CLIENT CACHING's flag covers the block, ending with it as in
            // Redis, also when the block set it itself (a CLIENT CACHING
            // step runs after EXEC was dispatched, which cleared it then).
            c.st.client.tracking.flags &= !crate::service::Tracking::CACHING;
            c.st.sync_gate();
            std::mem::take(&mut c.st.watched)
        } else {
            Vec::new()
        };
        let client = c.st.client.id;
        let waited = c.st.waiting.is_some();
        if !c.in_ready {
            c.in_ready = true;
            self.ready.push(conn);
        }
        if waited {
            // A woken waiter served by its transaction.
            self.wait_answered(conn, seq);
        }
        self.mark_write(conn);
        self.unwatch_keys(client, watched);
    }
}

fn abort_multi<S: Service>(st: &mut ConnState<S>) {
    if let Some(q) = st.multi.as_mut() {
        q.aborted = true;
    }
}

/// A shared read gathered in the current iteration (crate doc, "Shared
/// reads"): its leader's command and request, and the requests that take
/// its reply.
pub(super) struct ShareGroup<S: Service> {
    id: u64,
    cmd: S::Cmd,
    route: Route,
    args: OwnedArgs,
    client: ClientCtx,
    conn: u32,
    gen: u32,
    seq: u64,
    sharers: Vec<Sharer>,
}

/// `ConnState::ride` of a connection in a shared read not yet started.
pub(super) const SHARING: u32 = u32::MAX;
/// The most requests that share one read.
const SHARERS_CAP: usize = 4096;
/// The most shared reads one iteration gathers.
const SHARE_GROUPS: usize = 16;
/// How many recent reads' digests a shard keeps to tell a repeated read.
pub(super) const RECENT_READS: usize = 8;

/// A digest of a read's arguments, database and protocol (FNV-1a): what
/// a repeated read has in common with its earlier self.
fn read_digest<S: Service>(st: &ConnState<S>, args: Args<'_>) -> u64 {
    let mut h: u64 =
        0xcbf2_9ce4_8422_2325 ^ (u64::from(st.client.db) << 1) ^ u64::from(st.client.resp3);
    for a in args.iter() {
        for &b in a {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h = (h ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether every reply connection `st` is still owed is of shared read
/// `gid`.
fn owed_in<S: Service>(st: &ConnState<S>, gid: u64) -> bool {
    let done = st.next_seq() - st.pending_count() as u64;
    st.share.is_some_and(|(g, from)| g == gid && done >= from)
}

fn same_args(a: Args<'_>, b: Args<'_>) -> bool {
    a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x == y)
}
