//! Blocking commands (BLPOP, BLMOVE, BZPOPMIN, …): the waiters a shard
//! keeps for its keys, and the blocked connections a reactor keeps for
//! itself. See the crate doc, "Blocking", for the protocol and why it
//! loses nothing.

use super::executor::{Executor, Local, Wire};
use super::Reactor;
use crate::conn::{ConnState, Waiting};
use crate::exec;
use crate::lock::PUT_BACK;
use crate::msg::{Dest, Req, Resp, Wakened};
use crate::service::{ClientCtx, Route, Service, Wakes};
use kevy_resp::{Args, OwnedArgs};
use std::cmp::Reverse;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

/// `Resp::Blocked`'s timeout when a woken waiter found nothing after all
/// and waits again: the home keeps the deadline it has.
pub(crate) const AGAIN: u64 = u64::MAX;

/// What [`Executor::run_blocking`] returns for a command that asks to run
/// again as a whole-keyspace transaction (`Sink::escalate`): it wrote no
/// reply, and the client's home starts that transaction.
pub(crate) const ESCALATE: u64 = u64::MAX - 1;
/// Where the reply of a put-back goes: no connection has index `u32::MAX`,
/// so nobody is answered.
const NOWHERE: Dest = Dest {
    conn: u32::MAX,
    gen: 0,
    seq: 0,
    part: 0,
};

/// A client waiting on keys of this shard, whichever shard it lives on.
struct Waiter<S: Service> {
    home: usize,
    dest: Dest,
    client: ClientCtx,
    cmd: S::Cmd,
    args: OwnedArgs,
    /// The keys it waits on, in its database.
    keys: Vec<Vec<u8>>,
    /// Its home was asked whether it may be served (`Req::Wake`), or to
    /// serve it (`Req::Retry`); it keeps its place until the answer.
    woken: bool,
    /// Its command also writes a key of another shard (BLMOVE's
    /// destination): its home serves it, as a transaction.
    via_home: bool,
    /// Every key it waits on is on this shard: no other shard may serve
    /// it meanwhile.
    alone: bool,
}

/// A shard's waiters: one FIFO per key, waiters by client id (a client
/// waits for one command at a time: it runs nothing else meanwhile).
pub(super) struct Waiters<S: Service> {
    by_client: HashMap<u64, Waiter<S>, ahash::RandomState>,
    queues: HashMap<(u32, Vec<u8>), VecDeque<u64>, ahash::RandomState>,
    /// Keys with waiters that a write may have made servable.
    ready: Vec<(u32, Vec<u8>)>,
    /// A key joined `ready` since the last serve: the command that just
    /// ran made a waiter servable (one test on the hot path).
    pub fresh: bool,
    /// Waiters of this reactor's own to serve from here as a transaction
    /// (`via_home`), by client id.
    retry: Vec<u64>,
    /// What owners served ahead to clients of this reactor that had
    /// stopped waiting, from the batch being read: owner, client, database,
    /// and the reply then the command's arguments. Sent back last popped
    /// first, so that elements of one key return in their order.
    put_backs: Vec<(usize, u64, u32, OwnedArgs)>,
}

impl<S: Service> Default for Waiters<S> {
    fn default() -> Self {
        Waiters {
            by_client: HashMap::default(),
            queues: HashMap::default(),
            ready: Vec::new(),
            fresh: false,
            retry: Vec::new(),
            put_backs: Vec::new(),
        }
    }
}

/// A key's FIFO of waiting clients, by (database, key).
type Queue = ((u32, Vec<u8>), VecDeque<u64>);

/// The waiters on the keys of a hash slot that moves to another shard
/// (crate doc, "Moving slots to the cores that have time"): each key's
/// queue as it stands, and the waiters in them.
pub(crate) struct MovedWaiters<S: Service> {
    queues: Vec<Queue>,
    waiters: Vec<(u64, Waiter<S>)>,
}

impl<S: Service> Default for MovedWaiters<S> {
    fn default() -> Self {
        MovedWaiters {
            queues: Vec::new(),
            waiters: Vec::new(),
        }
    }
}

impl<S: Service> MovedWaiters<S> {
    /// The clients and their homes, for the new owner to tell.
    pub fn clients(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        self.waiters.iter().map(|(id, w)| (*id, w.home))
    }
}

impl<S: Service> Waiters<S> {
    /// Whether the waiters on keys `of` says yes to can go with those keys
    /// to another shard: each waits on such keys only (its command names
    /// no other: `only`), nothing but this shard could serve it, and none
    /// is being woken or held.
    pub fn movable(
        &self,
        of: impl Fn(&[u8]) -> bool,
        only: impl Fn(&ClientCtx, Args<'_>) -> bool,
    ) -> bool {
        self.queues
            .iter()
            .filter(|((_, k), _)| of(k))
            .all(|(_, q)| {
                q.iter().all(|id| {
                    self.by_client.get(id).is_some_and(|w| {
                        w.alone && !w.via_home && !w.woken && only(&w.client, w.args.args())
                    })
                })
            })
    }

    /// Takes out the waiters on keys `of` says yes to (see
    /// [`Self::movable`]), queues in their order.
    pub fn take(&mut self, of: impl Fn(&[u8]) -> bool) -> MovedWaiters<S> {
        let mut out = MovedWaiters::default();
        let keys: Vec<(u32, Vec<u8>)> =
            self.queues.keys().filter(|(_, k)| of(k)).cloned().collect();
        for qk in keys {
            if let Some(q) = self.queues.remove(&qk) {
                for id in &q {
                    if let Some(w) = self.by_client.remove(id) {
                        out.waiters.push((*id, w));
                    }
                }
                out.queues.push((qk, q));
            }
        }
        self.ready.retain(|(_, k)| !of(k));
        out
    }

    /// Puts waiters another shard took out ([`Self::take`]) here.
    pub fn put(&mut self, moved: MovedWaiters<S>) {
        for (qk, q) in moved.queues {
            self.queues.entry(qk).or_default().extend(q);
        }
        for (id, w) in moved.waiters {
            self.by_client.insert(id, w);
        }
    }

    /// Whether any client waits here (one branch per command otherwise).
    #[inline]
    pub fn any(&self) -> bool {
        !self.queues.is_empty()
    }

    /// How many clients wait here.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Every key waited on is to be looked at (those already ready keep
    /// their place).
    fn mark_all_ready(&mut self) {
        let already: std::collections::HashSet<&(u32, Vec<u8>)> = self.ready.iter().collect();
        let more: Vec<(u32, Vec<u8>)> = self
            .queues
            .keys()
            .filter(|k| !already.contains(k))
            .cloned()
            .collect();
        self.fresh |= !more.is_empty();
        self.ready.extend(more);
    }

    fn mark_ready(&mut self, db: u32, key: &[u8]) {
        let k = (db, key.to_vec());
        if self.queues.contains_key(&k) && !self.ready.contains(&k) {
            self.ready.push(k);
            self.fresh = true;
        }
    }

    /// Removes client `id`'s waiter; its keys are looked at again when it
    /// held the head of a queue while woken.
    fn remove(&mut self, id: u64) -> Option<Waiter<S>> {
        let w = self.by_client.remove(&id)?;
        for k in &w.keys {
            let qk = (w.client.db, k.clone());
            if let Some(q) = self.queues.get_mut(&qk) {
                q.retain(|&c| c != id);
                if q.is_empty() {
                    self.queues.remove(&qk);
                }
            }
        }
        if w.woken {
            for k in &w.keys {
                self.mark_ready(w.client.db, k);
            }
        }
        Some(w)
    }
}

impl<S: Service> Executor<S> {
    /// Runs a command that does not block: the plain execution point, and
    /// a look at whether it fed a waiter (one branch while nobody waits);
    /// [`ESCALATE`] when a script asks to run again over every shard.
    #[inline(always)]
    pub fn run_plain(
        &mut self,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: Args<'_>,
        out: &mut Vec<u8>,
    ) -> Option<u64> {
        let escalate = exec::run_escalable(
            &*self.svc,
            &mut self.shard,
            &mut self.effects,
            client,
            cmd,
            args,
            0,
            self.locks.active(),
            out,
        );
        if escalate {
            return Some(ESCALATE);
        }
        self.note(client, args);
        None
    }

    /// Runs a command that may block, for a client living on `home`. When
    /// it asks to block, the client is parked in its keys' queues and the
    /// request's timeout is returned (no reply was written).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn run_blocking(
        &mut self,
        home: usize,
        dest: Dest,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: Args<'_>,
        out: &mut Vec<u8>,
    ) -> Option<u64> {
        if !self.svc.blocking(cmd) {
            return self.run_plain(client, cmd, args, out);
        }
        let block = exec::run_may_block(
            &*self.svc,
            &mut self.shard,
            &mut self.effects,
            client,
            cmd,
            args,
            0,
            self.locks.active(),
            out,
        );
        match block {
            None => self.note(client, args),
            Some(_) => self.park(home, dest, client, cmd, args),
        }
        block
    }

    /// A command ran here: the keys it names that clients wait on may be
    /// servable now. Only called while someone waits... or cheaply not.
    #[inline]
    pub fn note(&mut self, client: &ClientCtx, args: Args<'_>) {
        if self.waiters.any() {
            self.note_keys(client, args);
        }
    }

    #[cold]
    fn note_keys(&mut self, client: &ClientCtx, args: Args<'_>) {
        let Ok((cmd, route)) = self.svc.route(args, client, self.n) else {
            return;
        };
        if let Route::Keys { .. } = route {
            for k in route.keys(args) {
                if self.slots.shard_of(k) == self.id {
                    self.waiters.mark_ready(client.db, k);
                }
            }
        }
        if self.svc.reaches_undeclared(cmd) || self.svc.reaches_other_dbs(cmd) {
            // A script may have written keys it did not declare, and MOVE,
            // COPY … DB or SWAPDB keys of another database: every key
            // waited on here is looked at again (one look at each that
            // holds nothing for its waiters).
            self.waiters.mark_all_ready();
        }
    }

    /// A key was replaced by a transaction's write-back: in any database.
    pub fn note_import(&mut self, key: &[u8]) {
        if !self.waiters.any() {
            return;
        }
        let dbs: Vec<u32> = self
            .waiters
            .queues
            .keys()
            .filter(|(_, k)| k == key)
            .map(|(db, _)| *db)
            .collect();
        for db in dbs {
            self.waiters.mark_ready(db, key);
        }
    }

    /// Parks a client of `home` on this shard's keys of `cmd` (all of its
    /// keys when they are all here; the rest belong to other shards).
    pub fn park(
        &mut self,
        home: usize,
        dest: Dest,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: Args<'_>,
    ) {
        match self.waiters.by_client.get_mut(&client.id) {
            Some(w) if w.home == home => {
                // Woken, found nothing after all: it keeps its place.
                w.woken = false;
                return;
            }
            Some(_) => {
                // Left by a wait the client ended at a home it has since
                // moved from, whose withdrawal is still on its way (and
                // is ignored when it lands: `unpark`).
                self.waiters.remove(client.id);
            }
            None => {}
        }
        let range = self.svc.wait_keys(cmd, args);
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut waits_on: Vec<&[u8]> = Vec::new();
        for i in range {
            if i < args.len() {
                let k = args.get(i);
                waits_on.push(k);
                if self.slots.shard_of(k) == self.id && !keys.iter().any(|x| x == k) {
                    keys.push(k.to_vec());
                }
            }
        }
        let alone = waits_on.iter().all(|k| self.slots.shard_of(k) == self.id);
        let via_home = match self.svc.route(args, client, self.n) {
            Ok((_, route @ Route::Keys { .. })) => route
                .keys(args)
                .any(|k| self.slots.shard_of(k) != self.id && !waits_on.contains(&k)),
            _ => false,
        };
        for k in &keys {
            self.waiters
                .queues
                .entry((client.db, k.clone()))
                .or_default()
                .push_back(client.id);
        }
        self.waiters.by_client.insert(
            client.id,
            Waiter {
                home,
                dest,
                client: *client,
                cmd,
                args: self
                    .svc
                    .park_args(&mut self.shard, client.db, cmd, args)
                    .unwrap_or_else(|| args.to_owned_args()),
                keys,
                woken: false,
                via_home,
                alone,
            },
        );
    }

    /// Client `id` stops waiting (timed out, unblocked, disconnected), as
    /// its home `from` says. A waiter parked for another home is a newer
    /// wait of a client that moved since: it stays.
    pub fn unpark(&mut self, id: u64, from: usize) {
        if self
            .waiters
            .by_client
            .get(&id)
            .is_some_and(|w| w.home == from)
        {
            self.waiters.remove(id);
        }
    }

    /// Client `id`, waiting on several shards, was granted to another
    /// shard (`hold`): its waiter here serves nobody and keeps its place
    /// until that shard has answered; or that shard found nothing after
    /// all (`!hold`) and the waiter serves again.
    pub fn hold(&mut self, id: u64, hold: bool, from: usize) {
        let Some(w) = self
            .waiters
            .by_client
            .get_mut(&id)
            .filter(|w| w.home == from)
        else {
            return;
        };
        w.woken = hold;
        if !hold {
            let (db, keys) = (w.client.db, w.keys.clone());
            for k in &keys {
                self.waiters.mark_ready(db, k);
            }
        }
    }

    /// Serves the oldest waiter of each key a write made servable: a
    /// waiter of this reactor's own is run at once; a waiter of another
    /// shard is first confirmed by its home (`Req::Wake`), and holds its
    /// key's head until the answer.
    pub fn serve(&mut self, wire: &mut impl Wire<S>) {
        self.waiters.fresh = false;
        let mut later = Vec::new();
        while let Some(qk) = self.waiters.ready.pop() {
            let (db, ref key) = qk;
            // Waiters for another kind of value than the key holds are
            // passed over, as Redis passes over a client blocked for
            // another type; one served leaves the queue, so `at` stays.
            let mut at = 0;
            while let Some(&id) = self.waiters.queues.get(&qk).and_then(|q| q.get(at)) {
                let Some(w) = self.waiters.by_client.get(&id) else {
                    break;
                };
                if w.woken {
                    break;
                }
                match self.svc.wakes(&mut self.shard, db, w.cmd, key) {
                    Wakes::Yes => {}
                    Wakes::No => break,
                    Wakes::OtherKind => {
                        at += 1;
                        continue;
                    }
                }
                if self.locks.active() {
                    let claim = self.claim_for(&w.client, w.args.args());
                    if !self.locks.may_go(&claim) {
                        // A transaction holds the key: it is served once
                        // the transaction has let go.
                        later.push((db, key.clone()));
                        break;
                    }
                }
                if w.via_home {
                    // Its home runs it as a transaction, which drops the
                    // waiter when served, else lets it wait on in place.
                    if w.home == self.id {
                        self.waiters.retry.push(id);
                    } else {
                        let b = wire.batch(w.home);
                        let (first, n) = b.push_args(w.args.args().iter());
                        b.reqs.push(Req::Retry {
                            dest: w.dest,
                            cmd: w.cmd,
                            client: w.client,
                            first,
                            n,
                        });
                    }
                    if let Some(w) = self.waiters.by_client.get_mut(&id) {
                        w.woken = true;
                    }
                    break;
                }
                if w.home != self.id {
                    if w.alone && self.svc.serves_ahead(w.cmd) {
                        if self.serve_ahead(wire, id) {
                            continue;
                        }
                        break;
                    }
                    let (home, dest) = (w.home, w.dest);
                    if let Some(w) = self.waiters.by_client.get_mut(&id) {
                        w.woken = true;
                    }
                    wire.batch(home).reqs.push(Req::Wake { client: id, dest });
                    break;
                }
                let Some(w) = self.waiters.by_client.remove(&id) else {
                    break;
                };
                let mut out = std::mem::take(&mut self.local_data);
                let start = out.len();
                let block = exec::run_may_block(
                    &*self.svc,
                    &mut self.shard,
                    &mut self.effects,
                    &w.client,
                    w.cmd,
                    w.args.args(),
                    1,
                    self.locks.active(),
                    &mut out,
                );
                if block.is_some() {
                    out.truncate(start);
                    self.local_data = out;
                    self.waiters.by_client.insert(id, w);
                    break;
                }
                self.local.push(Local::Reply {
                    dest: w.dest,
                    start: start as u32,
                    len: (out.len() - start) as u32,
                });
                self.local_data = out;
                self.waiters.by_client.insert(id, w);
                if let Some(w) = self.waiters.remove(id) {
                    self.note(&w.client, w.args.args());
                }
            }
        }
        self.waiters.ready = later;
    }

    /// Serves waiter `id` of another shard at once, in one message to its
    /// home (`Resp::Served`), which puts back what it took when the client
    /// no longer waits (`Req::PutBack`); false when it found nothing after
    /// all (it waits on, in place).
    fn serve_ahead(&mut self, wire: &mut impl Wire<S>, id: u64) -> bool {
        let Some(w) = self.waiters.by_client.remove(&id) else {
            return false;
        };
        let b = wire.batch(w.home);
        let mut out = std::mem::take(&mut b.rdata);
        let start = out.len();
        let block = exec::run_may_block(
            &*self.svc,
            &mut self.shard,
            &mut self.effects,
            &w.client,
            w.cmd,
            w.args.args(),
            1,
            self.locks.active(),
            &mut out,
        );
        let len = out.len() - start;
        let b = wire.batch(w.home);
        if block.is_some() {
            out.truncate(start);
            b.rdata = out;
            self.waiters.by_client.insert(id, w);
            return false;
        }
        b.rdata = out;
        let (first, n) = b.push_args(w.args.args().iter());
        b.resps.push(Resp::Served {
            dest: w.dest,
            client: id,
            db: w.client.db,
            start: start as u32,
            len: len as u32,
            first,
            n,
        });
        self.waiters.by_client.insert(id, w);
        if let Some(w) = self.waiters.remove(id) {
            self.note(&w.client, w.args.args());
        }
        true
    }

    /// Puts back what a waiter of `home` was served ahead (`Resp::Served`)
    /// after it stopped waiting: the service's command that returns each
    /// element where it came from, run as a write of that client's with
    /// its reply dropped, so the log, WATCH, tracking, keyspace events and
    /// the key's next waiter see it as any push.
    pub fn put_back(&mut self, home: usize, client: u64, db: u32, reply: &[u8], args: Args<'_>) {
        let ctx = ClientCtx::internal(client, db, home as u32);
        let Ok((cmd, _)) = self.svc.route(args, &ctx, self.n) else {
            return;
        };
        let Some(undo) = self.svc.put_back(cmd, args, reply) else {
            return;
        };
        let Ok((cmd, _)) = self.svc.route(undo.args(), &ctx, self.n) else {
            return;
        };
        if self.locks.active() {
            // The server's write, not one of the client's commands: it
            // waits for every transaction holding the key, the client's
            // own included. That one may be working on a copy of the key
            // (the client's next pop, over keys of several shards), and
            // its write-back would replace a key the element went into.
            let mut claim = self.claim_for(&ctx, undo.args());
            claim.client = PUT_BACK;
            if self.defer_claim(claim, None, NOWHERE, cmd, ctx, undo.args()) {
                return;
            }
        }
        let mut out = std::mem::take(&mut self.local_data);
        let start = out.len();
        self.run(&ctx, cmd, undo.args(), 1, &mut out);
        out.truncate(start);
        self.local_data = out;
    }

    /// The home of client `id` answered a `Wake` (or refused a `Retry`):
    /// serve it now, drop it (it is gone, timed out or unblocked), or keep
    /// it held where it is while another owner serves it.
    pub fn woken(&mut self, wire: &mut impl Wire<S>, peer: usize, id: u64, answer: Wakened) {
        let Some(w) = self.waiters.by_client.get(&id) else {
            return;
        };
        if w.home != peer {
            return;
        }
        match answer {
            Wakened::Serve => {}
            Wakened::Drop => {
                self.waiters.remove(id);
                return;
            }
            // Still woken: it keeps its place, serving nobody, until the
            // home says how the other owner's claim ended.
            Wakened::Hold => return,
        }
        if self.locks.active() && !self.locks.may_go(&self.claim_for(&w.client, w.args.args())) {
            // A transaction took the key since the Wake (it may hold a copy
            // of it): the waiter waits on in place and is looked at again
            // once the transaction lets go.
            let (dest, keys, db) = (w.dest, w.keys.clone(), w.client.db);
            if let Some(w) = self.waiters.by_client.get_mut(&id) {
                w.woken = false;
            }
            for k in &keys {
                self.waiters.mark_ready(db, k);
            }
            wire.batch(peer).resps.push(Resp::Blocked {
                dest,
                client: id,
                timeout: AGAIN,
            });
            return;
        }
        let Some(w) = self.waiters.by_client.remove(&id) else {
            return;
        };
        let out = wire.batch(peer);
        let start = out.rdata.len();
        let block = exec::run_may_block(
            &*self.svc,
            &mut self.shard,
            &mut self.effects,
            &w.client,
            w.cmd,
            w.args.args(),
            1,
            self.locks.active(),
            &mut out.rdata,
        );
        let (dest, client) = (w.dest, w.client);
        self.waiters.by_client.insert(id, w);
        if block.is_some() {
            // Taken by someone else meanwhile: wait on, in place.
            let out = wire.batch(peer);
            out.rdata.truncate(start);
            out.resps.push(Resp::Blocked {
                dest,
                client: client.id,
                timeout: AGAIN,
            });
            if let Some(w) = self.waiters.by_client.get_mut(&id) {
                w.woken = false;
            }
            return;
        }
        let len = (wire.batch(peer).rdata.len() - start) as u32;
        wire.batch(peer).resps.push(Resp::Reply {
            dest,
            start: start as u32,
            len,
        });
        if let Some(w) = self.waiters.remove(id) {
            self.note(&w.client, w.args.args());
            // The next waiter of the same keys may be servable too.
            for k in &w.keys {
                self.waiters.mark_ready(w.client.db, k);
            }
        }
    }
}

impl<S: Service> Reactor<S> {
    /// Connection `idx`'s command `seq` waits on shard `owner` for up to
    /// `timeout` ms (0: for ever; [`AGAIN`]: it was woken and waits again).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_wait(
        &mut self,
        idx: u32,
        gen: u32,
        client: u64,
        seq: u64,
        owner: usize,
        timeout: u64,
    ) {
        if self.gens.get(idx as usize) != Some(&gen) {
            // Closed meanwhile: the owner lets go of it.
            self.stop_waiter(owner, client);
            return;
        }
        let Some(mut c) = self.conns.get_mut(idx as usize).and_then(Option::take) else {
            self.stop_waiter(owner, client);
            return;
        };
        // Held until the command answered or blocked: the wait holds the
        // connection from now on.
        let dest = Dest {
            conn: idx,
            gen,
            seq,
            part: 0,
        };
        if !self.held.is_empty() && self.unhold(dest) {
            c.st.blocked = false;
        }
        self.start_wait_st(idx, gen, &mut c.st, seq, owner, timeout);
        self.conns[idx as usize] = Some(c);
        // A client that hung up meanwhile is closed now.
        self.mark_write(idx);
    }

    /// [`Self::start_wait`] on a connection's state in hand.
    pub(super) fn start_wait_st(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        seq: u64,
        owner: usize,
        timeout: u64,
    ) {
        self.start_wait_on(idx, gen, st, seq, vec![owner], timeout);
    }

    /// [`Self::start_wait_st`] on the keys of several shards.
    pub(super) fn start_wait_on(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        seq: u64,
        owners: Vec<usize>,
        timeout: u64,
    ) {
        match &mut st.waiting {
            Some(w) if w.seq == seq => {
                // The shard it was granted to found nothing after all: the
                // owners' waiters, held meanwhile, serve again (the one that
                // found nothing only looks at its keys once more).
                w.claimed = false;
                let id = st.client.id;
                for &s in w.owners.iter() {
                    if s == self.id {
                        self.ex.hold(id, false, self.id);
                    } else {
                        self.mesh.batch(s).reqs.push(Req::Unhold { client: id });
                    }
                }
                let d = w.deadline_us;
                if d != u64::MAX {
                    self.timers.push(Reverse((d, idx, gen, seq)));
                }
            }
            _ => {
                let deadline = match timeout {
                    0 | AGAIN => u64::MAX,
                    t => self.now_us.saturating_add(t.saturating_mul(1000)),
                };
                st.waiting = Some(Waiting {
                    seq,
                    owners: Box::new(owners),
                    deadline_us: deadline,
                    claimed: false,
                });
                let stats = &self.stats.shards[self.id];
                stats.blocked_clients.fetch_add(1, Ordering::Relaxed);
                if deadline != u64::MAX {
                    stats.timed_clients.fetch_add(1, Ordering::Relaxed);
                    self.timers.push(Reverse((deadline, idx, gen, seq)));
                }
            }
        }
    }

    pub(super) fn stop_waiter(&mut self, owner: usize, client: u64) {
        if owner == self.id {
            self.ex.unpark(client, self.id);
        } else {
            self.batch(owner).reqs.push(Req::Unpark { client });
        }
    }

    /// A reply reached connection `idx` for command `seq`: if that was its
    /// blocked command, it runs on.
    #[inline]
    pub(super) fn wait_answered(&mut self, idx: u32, seq: u64) {
        let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        if c.st.waiting.as_ref().is_some_and(|w| w.seq == seq) {
            let w = c.st.waiting.take();
            let id = c.st.client.id;
            let timed = w.as_ref().is_some_and(|w| w.deadline_us != u64::MAX);
            if let Some(w) = w.filter(|w| w.owners.len() > 1) {
                // Served by one shard: the others let go of it (ahead of
                // anything the connection sends next, ring order).
                for s in *w.owners {
                    self.stop_waiter(s, id);
                }
            }
            let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
                return;
            };
            self.stats.shards[self.id].unblocked(timed);
            if !c.in_ready {
                c.in_ready = true;
                self.ready.push(idx);
            }
        }
    }

    /// A peer asks whether its waiter for `dest` may be served: yes while
    /// the connection still waits for that command and no other owner
    /// serves it; it is then *claimed* (no timeout or unblock ends it: its
    /// reply is on the way). While claimed by another owner, the waiter is
    /// held in place.
    pub(super) fn wake(&mut self, peer: usize, client: u64, dest: Dest) {
        let me = self.id;
        let mut hold = false;
        let answer = match self.conn_at(dest.conn, dest.gen) {
            Some(c) => match &mut c.st.waiting {
                Some(w) if w.seq == dest.seq && w.owners.contains(&peer) => {
                    if w.claimed {
                        Wakened::Hold
                    } else {
                        w.claimed = true;
                        hold = w.owners.len() > 1 && w.owners.contains(&me);
                        Wakened::Serve
                    }
                }
                _ => Wakened::Drop,
            },
            None => Wakened::Drop,
        };
        if hold {
            // This shard's own waiter must not serve it too.
            self.ex.hold(client, true, self.id);
        }
        self.batch(peer).resps.push(Resp::Woken { client, answer });
    }

    /// An owner of the key a waiter of this reactor's waits on woke it,
    /// and its command also writes a key of another shard (`Req::Retry`,
    /// or this shard's own waiter: `peer` is then this shard): while the
    /// connection still waits for that command it is claimed, and the
    /// command runs again as a transaction over all its keys, which tells
    /// the owner whether to drop the waiter or keep it waiting; else the
    /// owner drops it now.
    pub(super) fn retry(
        &mut self,
        peer: usize,
        dest: Dest,
        client: u64,
        cmd: S::Cmd,
        args: Args<'_>,
    ) {
        let live = self.gens.get(dest.conn as usize) == Some(&dest.gen);
        let taken = live
            .then(|| {
                self.conns
                    .get_mut(dest.conn as usize)
                    .and_then(Option::take)
            })
            .flatten();
        let mut answer = Wakened::Drop;
        if let Some(mut c) = taken {
            if c.st.client.id == client {
                if let Some(w) = &mut c.st.waiting {
                    if w.seq == dest.seq && w.owners.contains(&peer) {
                        answer = if w.claimed {
                            Wakened::Hold
                        } else {
                            w.claimed = true;
                            Wakened::Serve
                        };
                    }
                }
            }
            if answer == Wakened::Serve {
                let args = args.to_owned_args();
                self.serve_woken(dest.conn, dest.gen, &mut c.st, dest.seq, cmd, args);
            }
            self.conns[dest.conn as usize] = Some(c);
        }
        if answer == Wakened::Serve {
            return;
        }
        if peer == self.id {
            self.ex.woken(&mut self.mesh, peer, client, answer);
        } else {
            self.batch(peer).resps.push(Resp::Woken { client, answer });
        }
    }

    /// Owner `peer` served this reactor's waiter `client` ahead
    /// (`Resp::Served`): the reply goes to the connection while it still
    /// waits for that command and no other owner serves it; else (and
    /// when the client has hung up, which ends its wait at this
    /// iteration's flush) what it took goes back to the owner
    /// (`Req::PutBack`), so it is not lost.
    pub(super) fn served(
        &mut self,
        peer: usize,
        dest: Dest,
        client: u64,
        db: u32,
        reply: &[u8],
        args: Args<'_>,
    ) -> bool {
        let waits = self.conn_at(dest.conn, dest.gen).is_some_and(|c| {
            c.st.client.id == client
                && !c.io.eof
                && c.st
                    .waiting
                    .as_ref()
                    .is_some_and(|w| w.seq == dest.seq && !w.claimed && w.owners.contains(&peer))
        });
        if !waits {
            let what = OwnedArgs::from_slices(std::iter::once(reply).chain(args.iter()));
            self.ex.waiters.put_backs.push((peer, client, db, what));
        }
        waits
    }

    /// Sends back what [`Self::served`] could not hand over, in reverse:
    /// the elements popped last go back first, so each key's come back in
    /// the order they had.
    pub(super) fn send_put_backs(&mut self) {
        while let Some((peer, client, db, what)) = self.ex.waiters.put_backs.pop() {
            let b = self.batch(peer);
            let (first, n) = b.push_args(what.args().iter());
            b.reqs.push(Req::PutBack {
                client,
                db,
                first,
                n,
            });
        }
    }

    /// Ends connection `idx`'s wait with `reply` (a timeout's nil, CLIENT
    /// UNBLOCK's answer); false when it was not waiting or is claimed.
    pub(super) fn end_wait(&mut self, idx: u32, gen: u32, reply: Option<&[u8]>) -> bool {
        let Some(c) = self.conn_at(idx, gen) else {
            return false;
        };
        let Some(w) = c.st.waiting.as_ref() else {
            return false;
        };
        if w.claimed {
            return false;
        }
        let (seq, id, resp3) = (w.seq, c.st.client.id, c.st.client.resp3);
        let owners = w.owners.to_vec();
        let last = c.st.last_cmd;
        let mut v = self.pool.get();
        match reply {
            Some(r) => v.extend_from_slice(r),
            None => {
                if let Some(cmd) = last {
                    self.svc.timeout_reply(cmd, resp3, &mut v);
                } else {
                    v.extend_from_slice(b"*-1\r\n");
                }
            }
        }
        for s in owners {
            self.stop_waiter(s, id);
        }
        let dest = Dest {
            conn: idx,
            gen,
            seq,
            part: 0,
        };
        self.deliver_local(dest, &v);
        self.pool.put(v);
        true
    }

    /// Times out the waits whose deadline passed.
    pub(super) fn expire_waits(&mut self) {
        while let Some(&Reverse((d, idx, gen, seq))) = self.timers.peek() {
            if d > self.now_us {
                break;
            }
            self.timers.pop();
            let due = self
                .conn_at(idx, gen)
                .and_then(|c| c.st.waiting.as_ref())
                .is_some_and(|w| w.seq == seq && w.deadline_us == d);
            if due {
                self.end_wait(idx, gen, None);
            }
        }
    }

    /// Milliseconds until the nearest deadline (rounded up), if any.
    pub(super) fn next_deadline_ms(&self, now_us: u64) -> Option<u64> {
        self.timers
            .peek()
            .map(|Reverse((d, ..))| d.saturating_sub(now_us).div_ceil(1000))
    }

    /// A closing connection stops waiting.
    pub(super) fn closing_waiter(&mut self, st: &mut ConnState<S>) {
        if let Some(w) = st.waiting.take() {
            self.stats.shards[self.id].unblocked(w.deadline_us != u64::MAX);
            for s in *w.owners {
                self.stop_waiter(s, st.client.id);
            }
        }
    }

    /// Serves the waiters a command just made servable before the next
    /// command runs, as Redis does: a waiter of this shard, or one of
    /// another shard whose command reads one key (served ahead), gets the
    /// element now, so a command pipelined behind the push finds it gone.
    /// Their replies go out with this iteration's ([`Self::pump`]).
    #[cold]
    #[inline(never)]
    pub(super) fn serve_now(&mut self) {
        self.ex.serve(&mut self.mesh);
        while let Some(id) = self.ex.waiters.retry.pop() {
            if let Some(w) = self.ex.waiters.by_client.get(&id) {
                let (dest, cmd, args) = (w.dest, w.cmd, w.args.clone());
                self.retry(self.id, dest, id, cmd, args.args());
            }
        }
    }

    /// [`Self::serve_now`] after a connection's command that made waiters
    /// servable; false when some are left (a transaction holds their
    /// key), and the connection's next commands then wait for the end of
    /// the iteration, which serves them first.
    #[cold]
    #[inline(never)]
    pub(super) fn serve_fresh(&mut self) -> bool {
        self.serve_now();
        !self.ex.waiters.has_ready()
    }

    /// Serves what this iteration's writes made servable, then hands the
    /// replies to this reactor's connections.
    pub(super) fn serve_waiters(&mut self) {
        while self.ex.waiters.has_ready() {
            let before = self.ex.waiters.ready.len();
            self.serve_now();
            self.pump();
            if self.ex.waiters.ready.len() >= before {
                // Only keys held by transactions are left.
                break;
            }
        }
    }
}
