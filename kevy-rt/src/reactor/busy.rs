//! Serving a reactor's other connections while a script runs long on it
//! (Redis's `processEventsWhileBlocked`). The script's command holds the
//! shard's executor, the mesh and the coordinator; the connection table
//! and the listeners are moved into a *desk*, which shares the poller, for
//! as long as it runs, and the script's hook reaches the desk through a
//! thread-local slot: the desk owns what it touches, so nothing is reached
//! through the borrowed reactor. The script's own connection, when it is
//! in the table (by copy, from the lock queue), waits for its answer and
//! reads nothing, so the desk leaves it alone.
//!
//! Connections move between shards in batches (`reactor/balance.rs`), and
//! a command that may run long holds its shard's iteration, so both ends
//! of a move that overlaps one are seen to here. A batch carrying a
//! connection this iteration handed to a peer goes out before the command
//! starts: the connection reaches its new home at once. And the shard's inbound rings
//! are lent to the desk: a peer hands this shard no connection while it
//! runs long (`running_long`), but one it decided to hand over just before
//! may arrive after the command began; the desk takes it in and serves it
//! as the others, and keeps the batches it took off the rings (at most
//! [`ARRIVALS_MAX`] per peer) for the reactor, which runs the rest of
//! them, each peer's in order, ahead of anything newer once the command
//! ends.

use super::coord::Coordinator;
use super::executor::Executor;
use super::mesh::{Consumer, Endpoint};
use super::{metrics, Admit, Listener, Reactor, FIRST_CONN, WAKER};
use crate::conn::{Conn, ConnState, CMD_BUDGET, READ_CHUNK};
use crate::limits::LimitValues;
use crate::msg::{Batch, Dest};
use crate::service::{ClientCtx, ConnAction, Refused, Route, Service, TxOp};
use crate::stats::Stats;
use kevy_resp::{Args, Parse};
use kevy_sys::{clock, Events, Interest, Poller, Token};
use std::any::Any;
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Batches the desk takes off one peer's ring while a command runs long;
/// beyond, the ring fills and the peer waits, as it would for a shard that
/// does not drain it.
const ARRIVALS_MAX: usize = super::RING_SLOTS;

thread_local! {
    /// The desk of the command that may run long on this thread, while
    /// it runs ([`Reactor::lending`]); taken out while it serves, so a
    /// call from inside it finds nothing.
    static LENT: Cell<Option<Box<dyn Any>>> = const { Cell::new(None) };
}

/// Serves, once, the connections of this thread other than the one whose
/// command runs now, and accepts new ones: every complete command is
/// answered with [`Service::route`]'s refusal (`-BUSY` while a script is
/// busy), or run by [`Service::exec_while_busy`], or left, with what
/// follows it on its connection, until the command ends. A service calls
/// it from a script running past `busy-reply-threshold`, every so often,
/// with the shard the script runs on (a scratch shard when it runs by
/// copy); replies are written at once. False when nothing is lent: the
/// command runs outside a reactor, or `S` is not the thread's service.
pub fn serve_while_busy<S: Service>(shard: &mut S::Shard) -> bool {
    let Some(mut lent) = LENT.with(Cell::take) else {
        return false;
    };
    let served = match lent.downcast_mut::<Desk<S>>() {
        Some(desk) => {
            desk.serve(shard);
            true
        }
        None => false,
    };
    LENT.with(|l| l.set(Some(lent)));
    served
}

/// What serves the other connections while a command runs long: the
/// reactor's table and listeners, lent for that time, and its poller.
pub(super) struct Desk<S: Service> {
    id: usize,
    n: usize,
    svc: Arc<S>,
    stats: Arc<Stats>,
    next_client_id: Arc<AtomicU64>,
    poller: Rc<Poller>,
    lim: LimitValues,
    // Lent by the reactor for the command's time (empty between).
    listeners: Vec<Listener>,
    conns: Vec<Option<Box<Conn<S>>>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    ids: HashMap<u64, u32, ahash::RandomState>,
    /// Connections read, answered or accepted, marked `in_write`: the
    /// reactor looks at each again once the command ends.
    touched: Vec<u32>,
    /// No look yet since the lend: input already buffered (read in the
    /// same iteration as the command's) is served too, and output owed
    /// from before the command (the reactor writes it at the end of the
    /// iteration, which waits for the command) is written, as Redis's
    /// `beforeSleep` does while a script is busy. A connection that waits
    /// for the command (its own, when in the table) keeps its output, as
    /// Redis's protected client does.
    first: bool,
    events: Events,
    /// The events of one look: token, readable or hung up, writable.
    todo: Vec<(usize, bool, bool)>,
    /// The shard's inbound rings, lent for the command's time, and the
    /// batches taken off them meanwhile, per peer, in order.
    rings: Vec<Option<Consumer<Batch<S>>>>,
    arrived: Vec<VecDeque<Batch<S>>>,
    fresh: Vec<u32>,
    reply: Vec<u8>,
    now_ms: u64,
    commands: u64,
    net_in: u64,
    net_out: u64,
}

impl<S: Service> Desk<S> {
    fn new(r: &Reactor<S>) -> Self {
        Desk {
            id: r.id,
            n: r.n,
            svc: r.svc.clone(),
            stats: r.stats.clone(),
            next_client_id: r.next_client_id.clone(),
            poller: r.poller.clone(),
            lim: r.lim.v,
            listeners: Vec::new(),
            conns: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            ids: Default::default(),
            touched: Vec::new(),
            first: true,
            events: Events::with_capacity(256),
            todo: Vec::new(),
            rings: Vec::new(),
            arrived: (0..r.n).map(|_| VecDeque::new()).collect(),
            fresh: Vec::new(),
            reply: Vec::new(),
            now_ms: 0,
            commands: 0,
            net_in: 0,
            net_out: 0,
        }
    }

    /// Moves the reactor's connection table and listeners in, or back.
    fn swap_with(&mut self, r: &mut Reactor<S>) {
        std::mem::swap(&mut self.listeners, &mut r.listeners);
        std::mem::swap(&mut self.conns, &mut r.conns);
        std::mem::swap(&mut self.gens, &mut r.gens);
        std::mem::swap(&mut self.free, &mut r.free);
        std::mem::swap(&mut self.ids, &mut r.ids);
    }

    fn serve(&mut self, shard: &mut S::Shard) {
        self.now_ms = clock::unix_ms();
        self.take_arrivals();
        if std::mem::take(&mut self.first) {
            for idx in 0..self.conns.len() as u32 {
                let Some(c) = self.conns[idx as usize].as_ref() else {
                    continue;
                };
                let owed = !c.st.blocked && c.st.wpos < c.st.wbuf.len();
                let buffered = c.io.rpos < c.io.rend;
                if owed {
                    self.write(idx);
                }
                if buffered {
                    self.serve_conn(idx, shard);
                }
            }
        }
        if self.poller.wait(&mut self.events, 0).is_err() {
            return;
        }
        let mut todo = std::mem::take(&mut self.todo);
        todo.clear();
        todo.extend(
            self.events
                .iter()
                .map(|ev| (ev.token.0, ev.readable || ev.hup, ev.writable)),
        );
        for &(token, read, write) in &todo {
            match token {
                // The waker is edge-triggered and its news is looked at
                // again before the reactor sleeps (crate doc, "Sleeping
                // and waking"); the metrics endpoint's events are
                // level-triggered and come back once the command ends.
                t if t == WAKER.0 || t >= metrics::LISTENER.0 => {}
                t if t < FIRST_CONN => self.accept(t - 1, shard),
                t => {
                    let idx = (t - FIRST_CONN) as u32;
                    if read && self.read(idx) {
                        self.serve_conn(idx, shard);
                    }
                    if write {
                        self.write(idx);
                    }
                }
            }
        }
        self.todo = todo;
    }

    /// Takes the batches peers sent meanwhile off the lent rings (up to
    /// [`ARRIVALS_MAX`] per peer, so what waits stays bounded) and adopts
    /// the connections they carry; the rest waits in `arrived` for the
    /// reactor. A subscriber on its way (its home leaves a proxy that
    /// hands it its messages) stays in its batch: the reactor adopts it,
    /// as it needs.
    fn take_arrivals(&mut self) {
        for peer in 0..self.rings.len() {
            while self.arrived[peer].len() < ARRIVALS_MAX {
                let Some(ring) = self.rings[peer].as_mut() else {
                    break;
                };
                let Some(mut b) = ring.pop() else {
                    break;
                };
                if !b.conns.is_empty() {
                    let conns = std::mem::take(&mut b.conns);
                    for c in conns {
                        if c.st.migrating.is_some() {
                            b.conns.push(c);
                        } else {
                            self.adopt(c);
                        }
                    }
                }
                self.arrived[peer].push_back(b);
            }
        }
    }

    /// Enters a connection a peer moved here into the lent table, as the
    /// reactor's `adopt` does, and writes what output it brought.
    fn adopt(&mut self, mut c: Box<Conn<S>>) {
        let idx = super::accept::free_slot(&mut self.conns, &mut self.gens, &mut self.free);
        c.st.client.home = self.id as u32;
        self.ids.insert(c.st.client.id, idx);
        c.in_ready = false;
        c.in_push = false;
        c.in_write = false;
        let token = Token(idx as usize + FIRST_CONN);
        match self.poller.add(c.io.stream.fd(), token, Interest::READABLE) {
            Ok(()) => c.io.interest = Some(Interest::READABLE),
            Err(e) => {
                // Closed by the reactor once the command ends, as its own
                // adopt closes a socket it cannot watch.
                eprintln!("kevy: cannot watch a moved connection: {e}");
                c.st.closing = true;
            }
        }
        self.conns[idx as usize] = Some(c);
        self.stats.shards[self.id]
            .connected_clients
            .fetch_add(1, Ordering::Relaxed);
        self.write(idx);
    }

    fn accept(&mut self, which: usize, shard: &mut S::Shard) {
        let Some(listener) = self.listeners.get(which) else {
            return;
        };
        let mut fresh = std::mem::take(&mut self.fresh);
        let mut admit = Admit {
            id: self.id,
            svc: &*self.svc,
            stats: &self.stats,
            next_client_id: &self.next_client_id,
            poller: &self.poller,
            lim: &self.lim,
            conns: &mut self.conns,
            gens: &mut self.gens,
            free: &mut self.free,
            ids: &mut self.ids,
        };
        admit.accept(listener, Some(&mut fresh));
        for &idx in &fresh {
            self.touch(idx);
            if self.read(idx) {
                self.serve_conn(idx, shard);
            }
        }
        fresh.clear();
        self.fresh = fresh;
    }

    fn touch(&mut self, idx: u32) {
        if let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) {
            if !c.in_write {
                c.in_write = true;
                self.touched.push(idx);
            }
        }
    }

    /// Reads what the socket holds, as the reactor's `read` does, when the
    /// connection may be served; false when it may not.
    fn read(&mut self, idx: u32) -> bool {
        let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
            return false;
        };
        if !servable(&c.st) || c.io.eof {
            // Left in the socket: its event comes back after the command.
            return false;
        }
        if c.io.rend - c.io.rpos >= READ_CHUNK {
            // What is buffered is answered first (a command that must
            // wait stops the rest): the socket keeps the rest, so a
            // client cannot grow its buffer while the command runs.
            return true;
        }
        let io = &mut c.io;
        for _ in 0..4 {
            io.make_room();
            let end = io.rbuf.len();
            match io.stream.read(&mut io.rbuf[io.rend..]) {
                Ok(0) => {
                    io.eof = true;
                    break;
                }
                Ok(k) => {
                    io.rend += k;
                    self.net_in += k as u64;
                    if io.rend < end {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    io.eof = true;
                    break;
                }
            }
        }
        c.st.last_active_ms = self.now_ms;
        // What arrived may complete the command left incomplete.
        c.io.partial = false;
        if c.io.rend - c.io.rpos > self.lim.query_buf {
            c.io.eof = true;
            c.io.rbuf = Vec::new();
            c.io.rpos = 0;
            c.io.rend = 0;
        }
        self.touch(idx);
        true
    }

    /// Answers the connection's complete commands in order, until one
    /// must wait for the command running now to end.
    fn serve_conn(&mut self, idx: u32, shard: &mut S::Shard) {
        let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        let svc = &*self.svc;
        let mut answered = false;
        for _ in 0..CMD_BUDGET {
            if !servable(&c.st) {
                break;
            }
            let input = &c.io.rbuf[c.io.rpos..c.io.rend];
            if input.is_empty() {
                break;
            }
            // A protocol error is the reactor's to answer, after.
            let Ok(Parse::Complete(used)) = c.io.parser.parse(input) else {
                break;
            };
            let args = c.io.parser.args(input);
            if !args.is_empty() {
                self.reply.clear();
                if !answer(svc, shard, self.n, &mut c.st, args, &mut self.reply) {
                    c.io.parser.put_back();
                    break;
                }
                c.st.push_ready(&self.reply);
                self.commands += 1;
                answered = true;
            }
            c.io.rpos += used;
        }
        if answered {
            self.touch(idx);
            self.write(idx);
        }
    }

    /// Writes what the connection's output holds, as far as the socket
    /// takes it; the rest goes once the command ends.
    fn write(&mut self, idx: u32) {
        let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        let st = &mut c.st;
        while st.wpos < st.wbuf.len() {
            match c.io.stream.write(&st.wbuf[st.wpos..]) {
                Ok(k) => {
                    st.wpos += k;
                    self.net_out += k as u64;
                }
                // A failed write is seen again, and closes, after.
                Err(_) => break,
            }
        }
        if st.wpos == st.wbuf.len() {
            st.wbuf.clear();
            st.wpos = 0;
        }
        self.touch(idx);
    }
}

/// Whether a connection's commands may be answered now: one that runs
/// commands the plain way. A connection in MULTI, subscribed in RESP2,
/// checked by access control, with CLIENT REPLY or CLIENT CACHING in
/// force (the gated path), blocked, paused or closing waits.
fn servable<S: Service>(st: &ConnState<S>) -> bool {
    !st.gate && !st.paused && st.can_run()
}

/// Answers one command into `out`; false when it must wait (nothing is
/// written then).
fn answer<S: Service>(
    svc: &S,
    shard: &mut S::Shard,
    n: usize,
    st: &mut ConnState<S>,
    args: Args<'_>,
    out: &mut Vec<u8>,
) -> bool {
    match svc.route(args, &st.client, n) {
        Err(msg) => {
            // The reactor aborts a transaction for a refused EXEC.
            if let Err(Refused {
                tx: Some(TxOp::Exec),
                ..
            }) = svc.resolve(args)
            {
                return false;
            }
            svc.refused(shard, args, &msg);
            kevy_resp::Reply::new(out, st.client.resp3).error_bytes(&msg);
            true
        }
        Ok((cmd, Route::Conn)) => {
            let Some(action) =
                svc.exec_while_busy(shard, &mut st.client, &mut st.session, cmd, args, out)
            else {
                return false;
            };
            st.last_cmd = Some(cmd);
            if action == ConnAction::Close {
                st.closing = true;
            }
            st.sync_gate();
            true
        }
        Ok(_) => false,
    }
}

impl<S: Service> Reactor<S> {
    /// Runs `f`, a command that may run long, with the connection table,
    /// the listeners and the poller lent to the desk for its time; then
    /// the reactor looks again at every connection the desk touched.
    #[cold]
    #[inline(never)]
    pub(super) fn lending<R>(
        &mut self,
        f: impl FnOnce(&mut Executor<S>, &mut Endpoint<S>, &mut Coordinator<S>) -> R,
    ) -> R {
        let mut desk = match self.desk.take() {
            Some(d) => d,
            None => Box::new(Desk::new(self)),
        };
        desk.lim = self.lim.v;
        desk.first = true;
        // Connections this iteration handed to a peer go now, not once
        // the command ends.
        self.mesh.flush_moves();
        desk.swap_with(self);
        desk.rings = self.mesh.lend_rings();
        LENT.with(|l| l.set(Some(desk)));
        let long = &self.stats.shards[self.id].running_long;
        long.store(1, Ordering::Relaxed);
        let r = f(&mut self.ex, &mut self.mesh, &mut self.coord);
        long.store(0, Ordering::Relaxed);
        let lent = LENT
            .with(Cell::take)
            .and_then(|d| d.downcast::<Desk<S>>().ok());
        let mut desk = lent.expect("the desk lent to this command");
        desk.swap_with(self);
        self.mesh.return_rings(std::mem::take(&mut desk.rings));
        for (peer, arrived) in desk.arrived.iter_mut().enumerate() {
            // Newer than anything waiting there already.
            self.arrived[peer].extend(arrived.drain(..));
        }
        self.commands += std::mem::take(&mut desk.commands);
        self.net_in += std::mem::take(&mut desk.net_in);
        self.net_out += std::mem::take(&mut desk.net_out);
        for idx in desk.touched.drain(..) {
            let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
                continue;
            };
            // Marked `in_write` by the desk: queue it for the flush.
            self.writes.push(idx);
            if c.io.rpos < c.io.rend && !c.in_ready {
                c.in_ready = true;
                self.ready.push(idx);
            }
        }
        self.desk = Some(desk);
        r
    }

    /// Advances transaction `op`, whose next step runs a command that may
    /// run long (a script run by copy), with the other connections lent
    /// to the desk. `conn` (slab index, generation) is the connection the
    /// transaction answers: it is in the table, and the desk leaves it
    /// alone because it waits for its transaction (`blocked`: a
    /// transaction that runs a command by copy holds its connection's
    /// commands until it answers, see `Coordinator::start`).
    #[cold]
    #[inline(never)]
    pub(super) fn advance_lending(&mut self, op: u32, conn: (u32, u32)) {
        debug_assert!(
            self.gens.get(conn.0 as usize) != Some(&conn.1)
                || self.conns[conn.0 as usize]
                    .as_ref()
                    .is_none_or(|c| !servable(&c.st)),
            "the desk would serve the connection of the running transaction"
        );
        self.lending(|ex, mesh, coord| coord.advance(ex, mesh, op));
    }

    /// Runs `f`, a step of the coordinator or the executor that may
    /// release locks here (an unlock, a transaction's end), with the other
    /// connections lent while a script waits in this shard's lock queue:
    /// the release may run it. The connection of a script queued here is
    /// held (`hold_if_reaching`) or another shard's, so the desk never
    /// serves it.
    #[inline]
    pub(super) fn releasing<R>(
        &mut self,
        f: impl FnOnce(&mut Executor<S>, &mut Endpoint<S>, &mut Coordinator<S>) -> R,
    ) -> R {
        if self.ex.long_queued > 0 {
            self.lending(f)
        } else {
            f(&mut self.ex, &mut self.mesh, &mut self.coord)
        }
    }

    /// `single`'s inline run of a command that may run long, as
    /// A blocking command or a script, run on this shard out of line
    /// (`single` is inlined into the connection's loop, and keeps only the
    /// plain path there).
    #[cold]
    #[inline(never)]
    pub(super) fn run_apart(
        &mut self,
        home: usize,
        dest: Dest,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: Args<'_>,
        out: &mut Vec<u8>,
    ) -> Option<u64> {
        if self.svc.runs_long(cmd) {
            self.run_long(home, dest, client, cmd, args, out)
        } else {
            self.ex.run_blocking(home, dest, client, cmd, args, out)
        }
    }

    /// `Executor::run_blocking` with the other connections lent to the
    /// busy desk.
    fn run_long(
        &mut self,
        home: usize,
        dest: Dest,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: Args<'_>,
        out: &mut Vec<u8>,
    ) -> Option<u64> {
        self.lending(|ex, _, _| ex.run_blocking(home, dest, client, cmd, args, out))
    }
}
