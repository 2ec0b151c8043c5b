//! The shards on one thread, stepped by hand: a deterministic simulation
//! for testing the transaction coordinator.
//!
//! Every shard is a real [`Reactor`] with its real rings, lock table and
//! coordinator; what is fake is the outside. No thread runs a reactor and
//! nothing waits in `epoll_wait`: the test picks which shard takes its next
//! iteration (`step`), so each interleaving of the shards' iterations is
//! one choice of steps, replayed exactly. A shard's iteration is the loop's
//! own non-blocking part (`Reactor::turn`, then the output flush), so the
//! order of work inside it is the production order. A step may also keep
//! the messages it sends until its shard's next step (`step_holding`, or
//! at random with `hold_now_and_then`): a thread that loses its core
//! between running its commands and pushing their messages lets its peers
//! run several iterations meanwhile, and what it sent reaches them behind
//! what they did then.
//!
//! Connections are accepted for real (a loopback `TcpStream` per client,
//! since a connection owns a socket), but their bytes bypass the socket:
//! commands are appended to the connection's read buffer, and replies are
//! taken from its output buffer before the flush would write them. Socket
//! timing (how soon loopback bytes show up) can then never change what a
//! run does, and the production code needs no seam for its I/O.
//!
//! The clock is fake too: each step advances it by a millisecond, so output
//! held back to coalesce with a remote reply always leaves on the next step.

use super::mesh::{Endpoint, Shared};
use super::{rings, Reactor};
use crate::conn::Conn;
use crate::service::Service;
use crate::stats::Stats;
use kevy_sys::{EventFd, TcpListener};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

mod moves;
mod pubsub;
mod tests;
pub(crate) mod toy;
mod waits;

/// Steps of one `settle` before a run counts as stuck (a deadlock, or work
/// that never drains).
const SETTLE_BOUND: usize = 10_000;

/// A client of the simulated server.
pub(super) struct Client {
    pub home: usize,
    pub idx: u32,
    pub gen: u32,
    /// The client's end of the socket, kept open so the server's end is
    /// not hung up on.
    _peer: std::net::TcpStream,
    /// Output taken from the connection, not yet split into replies.
    out: Vec<u8>,
    /// The connection's id while it travels to `home` (`move_conn`):
    /// found there by id once that shard has taken it in.
    moving: Option<u64>,
}

pub(super) struct Sim<S: Service> {
    pub shards: Vec<Reactor<S>>,
    pub clients: Vec<Client>,
    now_us: u64,
    /// Steps taken so far.
    pub steps: usize,
    /// When set, a step now and then keeps its messages until the shard's
    /// next step ([`Self::step_holding`]), drawn from this generator.
    holds: Option<Rng>,
    held: Vec<bool>,
}

impl<S: Service> Sim<S> {
    pub fn new(svc: Arc<S>, n: usize) -> Self {
        let stats = Arc::new(Stats::new(n));
        let ends = rings::<S>(n);
        let probes = ends
            .iter()
            .flat_map(|(_, c)| c.iter().flatten().map(|c| c.probe()));
        let wakers = (0..n).map(|_| EventFd::new().expect("eventfd")).collect();
        let shared = Arc::new(Shared::new(wakers, Default::default(), probes.collect()));
        let ids = Arc::new(AtomicU64::new(1));
        let slots = svc.slots(n);
        let shards = ends
            .into_iter()
            .enumerate()
            .map(|(id, (prods, cons))| {
                // Each shard its own port, so a client picks its home.
                let addr = "127.0.0.1:0".parse().expect("address");
                let listener = TcpListener::bind_reuseport(addr, 64).expect("listener");
                let listeners = vec![super::Listener::Tcp(listener)];
                let mesh = Endpoint::new(id, shared.clone(), prods, cons);
                Reactor::new(
                    id,
                    slots.clone(),
                    svc.clone(),
                    stats.clone(),
                    ids.clone(),
                    listeners,
                    Default::default(),
                    mesh,
                )
                .expect("reactor")
            })
            .collect();
        Sim {
            shards,
            clients: Vec::new(),
            now_us: 1_000_000,
            steps: 0,
            holds: None,
            held: vec![false; n],
        }
    }

    pub fn n(&self) -> usize {
        self.shards.len()
    }

    /// Connects a client whose home is shard `home`; returns its number.
    pub fn connect(&mut self, home: usize) -> usize {
        let r = &mut self.shards[home];
        let super::Listener::Tcp(l) = &r.listeners[0] else {
            unreachable!("the simulation listens on TCP");
        };
        let addr = l.local_addr().expect("listener address");
        let peer = std::net::TcpStream::connect(addr).expect("connect");
        let me = peer.local_addr().expect("client address");
        // The kernel queues the connection for accept by the time connect
        // returns on loopback; retrying only covers a slow softirq.
        for _ in 0..10_000 {
            r.accept(0);
            let found = r.conns.iter().position(|c| {
                c.as_ref()
                    .is_some_and(|c| c.st.client.peer == me && c.st.client.home == home as u32)
            });
            if let Some(idx) = found {
                let idx = idx as u32;
                self.clients.push(Client {
                    home,
                    idx,
                    gen: r.gens[idx as usize],
                    _peer: peer,
                    out: Vec::new(),
                    moving: None,
                });
                return self.clients.len() - 1;
            }
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        panic!("connection to shard {home} never arrived");
    }

    fn conn_mut(&mut self, c: usize) -> Option<&mut Conn<S>> {
        let cl = &self.clients[c];
        if cl.moving.is_some() {
            return None;
        }
        let r = &mut self.shards[cl.home];
        if r.gens.get(cl.idx as usize) != Some(&cl.gen) {
            return None;
        }
        r.conns
            .get_mut(cl.idx as usize)
            .and_then(Option::as_deref_mut)
    }

    /// Whether client `c`'s connection is still open.
    pub fn is_open(&mut self, c: usize) -> bool {
        self.conn_mut(c).is_some()
    }

    /// Sends commands from client `c`, as if they had just been read: they
    /// run at its home shard's next step.
    pub fn send(&mut self, c: usize, cmds: &[&[&str]]) {
        let mut bytes = Vec::new();
        for cmd in cmds {
            bytes.extend_from_slice(format!("*{}\r\n", cmd.len()).as_bytes());
            for a in *cmd {
                bytes.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
        }
        let (home, idx) = (self.clients[c].home, self.clients[c].idx);
        let conn = self.conn_mut(c).expect("client is connected");
        let io = &mut conn.io;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            io.make_room();
            let k = rest.len().min(io.rbuf.len() - io.rend);
            io.rbuf[io.rend..io.rend + k].copy_from_slice(&rest[..k]);
            io.rend += k;
            rest = &rest[k..];
        }
        if !conn.in_ready {
            conn.in_ready = true;
            self.shards[home].ready.push(idx);
        }
    }

    /// Hands client `c`'s connection to shard `to`, as a starved shard
    /// does (`Reactor::move_if_movable`): it leaves with its home's next
    /// step and arrives at `to`'s step after that. False when it may not
    /// move now.
    pub fn move_conn(&mut self, c: usize, to: usize) -> bool {
        let (home, idx) = (self.clients[c].home, self.clients[c].idx);
        let Some(id) = self.conn_mut(c).map(|conn| conn.st.client.id) else {
            return false;
        };
        self.shards[home].move_if_movable(idx, to);
        if self.conn_mut(c).is_some() {
            return false;
        }
        let cl = &mut self.clients[c];
        cl.home = to;
        cl.moving = Some(id);
        true
    }

    /// Steps shard `home` and shard `owner` in turn until client `c` has
    /// replies, which it returns: `owner` is not stepped after the step
    /// that answered, so what `home` sent it on that step waits on its
    /// ring.
    pub fn answer_ahead_of(&mut self, c: usize, home: usize, owner: usize) -> Vec<String> {
        for _ in 0..50 {
            self.step(home);
            let got = self.replies(c);
            if !got.is_empty() {
                return got;
            }
            self.step(owner);
        }
        panic!("no answer in 50 steps of shards {home} and {owner}");
    }

    /// Moves answered client `c` to shard `to` while shard `owner` has yet
    /// to read what its home sent it last (the tail of that answer): the
    /// home looks at the connection once more (it reads nothing), hands
    /// it over, and `to` takes it in. Then `c` sends from `to`.
    pub fn move_ahead_of_tail(&mut self, c: usize, to: usize, owner: usize) {
        let home = self.clients[c].home;
        self.step(home);
        assert!(self.shards[owner].mesh.has_incoming(), "the tail travels");
        assert!(self.move_conn(c, to), "an answered connection moves");
        self.step(home);
        self.step(to);
    }

    /// Closes client `c`'s connection at its home shard right now, as
    /// CLIENT KILL does, whatever it has in flight.
    pub fn kill(&mut self, c: usize) {
        let (home, idx) = (self.clients[c].home, self.clients[c].idx);
        if self.conn_mut(c).is_some() {
            self.shards[home].close(idx);
        }
    }

    /// Client `c` hangs up, as a read of end-of-file reports it: the
    /// connection closes once every reply to what it sent is out.
    pub fn hang_up(&mut self, c: usize) {
        let (home, idx) = (self.clients[c].home, self.clients[c].idx);
        if let Some(conn) = self.conn_mut(c) {
            conn.io.eof = true;
            if !conn.in_ready {
                conn.in_ready = true;
                self.shards[home].ready.push(idx);
            }
        }
    }

    /// Makes one step in `one_in` keep its messages until its shard's next
    /// step, at random from `seed`: shards that lose their core between
    /// running commands and sending what they send, in every test that
    /// steps shards at random.
    pub fn hold_now_and_then(&mut self, seed: u64) {
        self.holds = Some(Rng::new(seed));
    }

    /// One iteration of shard `s`, without waiting for events. What the
    /// shard held from its last step leaves first.
    pub fn step(&mut self, s: usize) {
        if std::mem::take(&mut self.held[s]) {
            self.release(s);
        }
        if let Some(rng) = self.holds.as_mut() {
            if rng.below(8) == 0 {
                self.shards[s].mesh.hold = true;
                self.held[s] = true;
            }
        }
        self.step_inner(s);
    }

    fn step_inner(&mut self, s: usize) {
        self.steps += 1;
        self.now_us += 1_000;
        let r = &mut self.shards[s];
        r.now_us = self.now_us;
        r.now_ms = self.now_us / 1_000;
        r.svc.begin_iteration(&mut r.ex.shard);
        if !r.timers.is_empty() {
            r.expire_waits();
        }
        if !r.paused.is_empty() {
            r.release_paused();
        }
        r.turn();
        for cl in self.clients.iter_mut().filter(|cl| cl.home == s) {
            let Some(id) = cl.moving else {
                continue;
            };
            if let Some(&idx) = r.ids.get(&id) {
                cl.idx = idx;
                cl.gen = r.gens[idx as usize];
                cl.moving = None;
            }
        }
        // Take the output the flush would write. A client still on its
        // way here has no slot here yet: the one its old slot number names
        // (same generation, by chance) is another client's.
        for cl in self.clients.iter_mut().filter(|cl| cl.home == s) {
            if cl.moving.is_some() || r.gens.get(cl.idx as usize) != Some(&cl.gen) {
                continue;
            }
            if let Some(conn) = r.conns.get_mut(cl.idx as usize).and_then(Option::as_mut) {
                cl.out.extend_from_slice(&conn.st.wbuf[conn.st.wpos..]);
                conn.st.wpos = conn.st.wbuf.len();
            }
        }
        r.flush_writes();
        r.publish_stats();
    }

    /// One iteration of shard `s` whose messages stay with it, as when
    /// its thread loses its core between running its commands and pushing
    /// what they send: they leave at [`Self::release`], ahead of what its
    /// next step sends.
    pub fn step_holding(&mut self, s: usize) {
        if std::mem::take(&mut self.held[s]) {
            self.release(s);
        }
        self.shards[s].mesh.hold = true;
        self.held[s] = true;
        self.step_inner(s);
    }

    /// Pushes what shard `s` held since [`Self::step_holding`].
    pub fn release(&mut self, s: usize) {
        self.held[s] = false;
        self.shards[s].mesh.hold = false;
        self.shards[s].mesh.flush();
    }

    /// Whether shard `s` has nothing to do until something arrives.
    pub fn quiet(&self, s: usize) -> bool {
        let r = &self.shards[s];
        r.ready.is_empty()
            && r.writes.is_empty()
            && r.held_writes.is_empty()
            && r.pushq.is_empty()
            && !r.coord.has_runnable()
            && !r.mesh.has_outgoing()
            && !r.mesh.has_incoming()
            && !r.mig.is_moving()
            && r.paused.is_empty()
    }

    pub fn all_quiet(&self) -> bool {
        (0..self.n()).all(|s| self.quiet(s))
    }

    /// Steps shards chosen by `pick` until every shard is quiet; returns
    /// the steps taken. Panics past `SETTLE_BOUND` steps.
    pub fn settle_with(&mut self, mut pick: impl FnMut(usize) -> usize) -> usize {
        let mut taken = 0;
        while !self.all_quiet() {
            assert!(taken < SETTLE_BOUND, "no progress after {taken} steps");
            let s = pick(self.n());
            self.step(s);
            taken += 1;
        }
        taken
    }

    /// Steps the shards round-robin until every shard is quiet.
    pub fn settle(&mut self) -> usize {
        let mut next = 0;
        self.settle_with(|n| {
            next = (next + 1) % n;
            next
        })
    }

    /// Takes client `c`'s complete replies so far, rendered as text
    /// (see [`render`]).
    pub fn replies(&mut self, c: usize) -> Vec<String> {
        let out = &mut self.clients[c].out;
        let mut got = Vec::new();
        let mut at = 0;
        while let Some((text, used)) = render(&out[at..]) {
            got.push(text);
            at += used;
        }
        out.drain(..at);
        got
    }

    /// How many clients wait on keys of shard `s`.
    pub fn waiters(&self, s: usize) -> usize {
        self.shards[s].ex.waiters.len()
    }

    /// Whether every shard's lock table is empty and no transaction is in
    /// flight anywhere.
    pub fn locks_idle(&self) -> bool {
        self.shards
            .iter()
            .all(|r| r.ex.locks.is_idle() && r.coord.is_idle())
    }
}

/// One RESP2 reply as compact text: `OK` for a simple string, `!ERR …`
/// for an error, the digits of an integer, a bulk string's bytes, `nil`
/// for a null bulk or array, `[a,b]` for an array. `None` while
/// incomplete.
pub(super) fn render(buf: &[u8]) -> Option<(String, usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..end]).expect("utf-8 reply");
    let after = end + 2;
    match buf.first()? {
        b'+' => Some((line.to_string(), after)),
        b'-' => Some((format!("!{line}"), after)),
        b':' => Some((line.to_string(), after)),
        b'$' => {
            let len: i64 = line.parse().expect("bulk length");
            if len < 0 {
                return Some(("nil".into(), after));
            }
            let len = len as usize;
            if buf.len() < after + len + 2 {
                return None;
            }
            let s = String::from_utf8(buf[after..after + len].to_vec()).expect("utf-8 bulk");
            Some((s, after + len + 2))
        }
        b'*' => {
            let len: i64 = line.parse().expect("array length");
            if len < 0 {
                return Some(("nil".into(), after));
            }
            let mut at = after;
            let mut items = Vec::new();
            for _ in 0..len {
                let (t, used) = render(&buf[at..])?;
                items.push(t);
                at += used;
            }
            Some((format!("[{}]", items.join(",")), at))
        }
        b => panic!("unexpected reply type {:?}", *b as char),
    }
}

/// A small xorshift generator: schedules that vary by seed and replay.
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
