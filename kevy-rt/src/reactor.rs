//! One reactor per shard: an epoll loop that accepts, reads, parses, routes
//! and runs commands, exchanges batches with the other shards over the ring
//! mesh, and writes replies in order. See the crate doc for the design.

use crate::conn::{Conn, ConnState, VecPool, CMD_BUDGET, READ_CHUNK};
use crate::fold::FanOut;
use crate::limits::{Limits, LimitsCopy};
use crate::msg::{Batch, Dest, Req, Resp};
use crate::ring::{ring, Consumer, Producer};
use crate::service::{key_range, ConnAction, PubSubOp, Refused, ReplyMode, Route, Service, TxOp};
use crate::slot::SlotMap;
use crate::stats::{ShardStats, Stats};
use accept::Admit;
pub use balance::note_redirect;
use coord::Coordinator;
use executor::{Executor, Wire};
use kevy_resp::{Args, Parse, Parser};
use kevy_sys::{
    clock, signal, EventFd, Events, Interest, Poller, TcpListener, TcpStream, Token, UnixListener,
};
use mesh::{Endpoint, Shared, RING_BUDGET};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The address a Unix socket client reports (it has none): CLIENT LIST
/// shows the socket's path instead, as Redis does.
pub const UNIX_PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));
/// Connections accepted per listener wake-up.
const ACCEPT_BUDGET: usize = 64;
/// Slots per ring. A shard pushes at most one batch per peer per iteration,
/// so this only needs to cover a consumer that falls a few iterations behind.
const RING_SLOTS: usize = 256;
/// How long a connection's ready replies may wait for a reply still coming
/// from another shard, so that one `write` carries both (a pipeline split
/// over two shards would otherwise cost two writes and two reads at the
/// client). Short enough that a reply held up behind a lock elsewhere does
/// not hold back the ones before it for long.
const COALESCE_US: u64 = 500;
/// Unsent bytes above which a connection is written without waiting.
const COALESCE_BYTES: usize = 64 * 1024;
/// How long after sending requests to other shards a reactor with nothing
/// else to do polls for their answers before it sleeps. A peer answers a
/// plain command within one of its iterations (tens of µs), while waking a
/// sleeping thread through its eventfd costs the sender a syscall and the
/// sleeper a context switch plus, on an idle core, the core's way out of
/// idle, which on virtual machines alone can take longer than the answer.
const ANSWER_SPIN_US: u64 = 100;
/// A reactor that serves a stream of lone requests polls for the next
/// before it sleeps, for `idle-poll-us` ([`LimitValues::idle_poll_us`],
/// 50 µs by default). Clients that wait for each reply (no pipelining)
/// send their next request microseconds after it leaves; a sleeping shard
/// makes each such request wake it, which costs the request the wake-up
/// (and an idle virtual core its way out of idle): one such client got
/// 18 k answers a second here instead of 33 k, and a load generator bound
/// by its own core ran 10-20 % slower. The poll is for lone requests
/// only, where a wake-up serves under `CLIENT_SPIN_CMDS` commands on
/// average and the next event came, on average, within 4/5 of the poll:
/// a pipelining client's wake-up serves many, and polling for it would
/// only turn idle time into CPU time.
const CLIENT_SPIN_CMDS: u64 = 8;
/// Commands whose keys are hinted to the cache ahead of running them, in
/// a pipeline or a batch from a peer ([`Service::prefetch_nodes`]): enough to
/// overlap the loads of a 16-deep pipeline, few enough that the lines
/// they bring in are still in L1 when their commands run.
const PREFETCH_AHEAD: usize = 16;
const _: () = assert!(PREFETCH_AHEAD <= kevy_resp::AHEAD_MAX);
/// Keys of a command whose shards routing records for its transaction's
/// plan (`Coordinator::draft_routed`); a command with more has them found
/// again there.
const ROUTED_SHARDS: usize = 32;

mod accept;
mod balance;
mod blocking;
pub(crate) use blocking::MovedWaiters;
mod busy;
mod clients;
mod coord;
mod executor;
mod handoff;
mod mesh;
mod metrics;
mod migrate;
mod pubsub;
mod room;
#[cfg(test)]
pub(crate) mod sim;
mod tracking;
mod tx;

pub use busy::serve_while_busy;
pub(crate) use handoff::Migrating;
pub(crate) use pubsub::{Directory, Subs};

const WAKER: Token = Token(0);
/// Listener tokens are `1..=MAX_LISTENERS`; connections come after.
const MAX_LISTENERS: usize = 32;
const FIRST_CONN: usize = 1 + MAX_LISTENERS;

/// One TCP address to listen on (Redis's `bind`, one entry per address).
#[derive(Clone, Debug)]
pub struct Listen {
    pub addr: SocketAddr,
    /// Redis's `-` prefix: an address this machine does not have is
    /// skipped instead of failing the start.
    pub optional: bool,
}

/// How to run the server.
#[derive(Clone, Debug)]
pub struct Config {
    /// TCP addresses, each served by one `SO_REUSEPORT` listener per
    /// shard; empty: no TCP listener (Redis's `port 0`).
    pub listen: Vec<Listen>,
    /// A Unix socket path and the file mode to give it (0: leave the
    /// umask's); every shard accepts on it.
    pub unix: Option<(std::path::PathBuf, u32)>,
    /// `listen(2)` backlog (`tcp-backlog`).
    pub backlog: i32,
    /// Number of shards, one reactor thread each.
    pub shards: usize,
    /// Cores to pin shard `i` to (`cores[i % len]`); empty: no pinning.
    pub cores: Vec<usize>,
    /// CPUs every shard thread may run on (Redis's `server_cpulist`, a
    /// mask rather than one core each); when set, it replaces `cores`.
    pub cpu_mask: Vec<usize>,
    /// Limits CONFIG SET may change while the reactors run.
    pub limits: Arc<Limits>,
}

impl Config {
    /// One address, no Unix socket, Redis's default limits.
    pub fn new(addr: SocketAddr, shards: usize, cores: Vec<usize>) -> Config {
        Config {
            listen: vec![Listen {
                addr,
                optional: false,
            }],
            unix: None,
            backlog: 511,
            shards,
            cores,
            cpu_mask: Vec::new(),
            limits: Default::default(),
        }
    }
}

/// What holds a connection's next command in its read buffer.
enum Hold<C> {
    /// A slot move (crate doc, "Moving slots to the cores that have time").
    Freeze,
    /// CLIENT PAUSE, holding this command (when it is one).
    Pause(Option<C>),
}

/// A held connection runs again, or closes: it no longer counts as a
/// blocked client.
fn unhold<S: Service>(stats: &ShardStats, st: &mut ConnState<S>) {
    st.paused = false;
    if std::mem::take(&mut st.pause_blocked) {
        stats.blocked_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A listening socket a reactor accepts on.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn fd(&self) -> std::os::fd::RawFd {
        match self {
            Listener::Tcp(l) => l.fd(),
            Listener::Unix(l) => l.fd(),
        }
    }

    /// A connection and its peer's address (`None` for a Unix socket).
    fn accept(&self) -> io::Result<Option<(TcpStream, Option<SocketAddr>)>> {
        match self {
            Listener::Tcp(l) => Ok(l.accept()?.map(|(s, a)| (s, Some(a)))),
            Listener::Unix(l) => Ok(l.accept()?.map(|s| (s, None))),
        }
    }
}

/// Listeners bound and ready to serve: binding first reports a port in use
/// before any thread starts.
pub struct Bound {
    cfg: Config,
    /// Each shard's listeners.
    listeners: Vec<Vec<Listener>>,
    /// The addresses bound (the kernel's port where 0 was asked).
    addrs: Vec<SocketAddr>,
    /// The metrics endpoint's listener, served by shard 0.
    metrics: Option<TcpListener>,
}

impl Bound {
    /// The first TCP address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.addrs
            .first()
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no TCP listener"))
    }

    /// Every TCP address listened on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Adds the HTTP metrics endpoint (`GET /metrics`, the text
    /// [`Service::metrics`] composes) on `addr`; a taken port is an error.
    pub fn with_metrics(mut self, addr: SocketAddr) -> io::Result<Self> {
        if addr.port() != 0 {
            drop(std::net::TcpListener::bind(addr)?);
        }
        self.metrics = Some(TcpListener::bind_reuseport(addr, 128)?);
        Ok(self)
    }

    /// Where the metrics endpoint listens, if it does.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Runs every reactor until SIGINT/SIGTERM (or
    /// `kevy_sys::signal::request_shutdown`).
    pub fn run<S: Service>(self, svc: Arc<S>, stats: Arc<Stats>) -> io::Result<()> {
        let n = self.cfg.shards;
        assert_eq!(stats.shards.len(), n, "stats sized for the shard count");
        signal::install_shutdown_handlers()?;
        let mut wakers = Vec::with_capacity(n);
        for _ in 0..n {
            let w = EventFd::new()?;
            signal::register_wakeup(w.fd());
            wakers.push(w);
        }
        let ends = rings::<S>(n);
        let probes = ends
            .iter()
            .flat_map(|(_, c)| c.iter().flatten().map(|c| c.probe()));
        let mesh = Arc::new(Shared::new(
            wakers,
            stats.directory.clone(),
            probes.collect(),
        ));
        let next_client_id = Arc::new(AtomicU64::new(1));
        let slots = svc.slots(n);
        assert_eq!(slots.shards(), n, "a slot map of the shard count");
        let mut handles = Vec::with_capacity(n);
        let mut metrics = self.metrics;
        let parts = self.listeners.into_iter().zip(ends);
        for (id, (listeners, (prods, cons))) in parts.enumerate() {
            let limits = self.cfg.limits.clone();
            let metrics = metrics.take();
            let svc = svc.clone();
            let stats = stats.clone();
            let mesh = mesh.clone();
            let ids = next_client_id.clone();
            let slots = slots.clone();
            let core = (self.cfg.cpu_mask.is_empty() && !self.cfg.cores.is_empty())
                .then(|| self.cfg.cores[id % self.cfg.cores.len()]);
            let mask = self.cfg.cpu_mask.clone();
            // One core each: a shard's waiting for its core is then
            // another process's doing, which balancing answers.
            let pinned = core.is_some() && self.cfg.cores.len() >= n;
            let h = std::thread::Builder::new()
                .name(format!("kevy-shard-{id}"))
                .spawn(move || -> io::Result<()> {
                    if let Some(core) = core {
                        kevy_sys::affinity::pin_current_thread(core);
                    } else if !mask.is_empty() {
                        kevy_sys::affinity::restrict_current_thread(&mask);
                    }
                    let mut r = Reactor::new(
                        id,
                        slots,
                        svc,
                        stats,
                        ids,
                        listeners,
                        limits,
                        Endpoint::new(id, mesh, prods, cons),
                    )?;
                    if let Some(l) = metrics {
                        r.metrics = Some(metrics::Metrics::new(l, &r.poller)?);
                    }
                    r.bal.pinned = pinned;
                    r.bal.cpu = core.filter(|_| pinned);
                    if let Some(cpu) = r.bal.cpu {
                        r.stats.shards[id]
                            .cpu
                            .store(cpu as u64 + 1, Ordering::Relaxed);
                    }
                    r.run();
                    Ok(())
                })?;
            handles.push(h);
        }
        let mut result = Ok(());
        for h in handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    signal::request_shutdown();
                    result = Err(e);
                }
                Err(_) => {
                    signal::request_shutdown();
                    result = Err(io::Error::other("a reactor thread panicked"));
                }
            }
        }
        result
    }
}

/// Ring ends per shard: for shard `i`, the producers of the rings `i -> j`
/// and the consumers of the rings `j -> i`, indexed by `j` (`None` at `i`).
#[allow(clippy::type_complexity)]
fn rings<S: Service>(
    n: usize,
) -> Vec<(
    Vec<Option<Producer<Batch<S>>>>,
    Vec<Option<Consumer<Batch<S>>>>,
)> {
    // producers[i][j] sends i -> j; consumers[j][i] receives it.
    let mut producers: Vec<Vec<Option<Producer<Batch<S>>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut consumers: Vec<Vec<Option<Consumer<Batch<S>>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let (p, c) = ring(RING_SLOTS);
                producers[i][j] = Some(p);
                consumers[j][i] = Some(c);
            }
        }
    }
    producers.into_iter().zip(consumers).collect()
}

/// Binds one `SO_REUSEPORT` listener per shard on each of `cfg.listen`,
/// and the Unix socket, shared by every shard.
pub fn bind(cfg: Config) -> io::Result<Bound> {
    assert!(cfg.shards >= 1);
    let n = cfg.shards;
    let mut listeners: Vec<Vec<Listener>> = (0..n).map(|_| Vec::new()).collect();
    let mut addrs = Vec::new();
    for l in &cfg.listen {
        let first = match bind_one(l.addr, cfg.backlog) {
            Ok(f) => f,
            // Redis's `-` prefix: an address the machine lacks (or a
            // family it does not support) is not an error.
            Err(e) if l.optional && skippable(&e) => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: bind: {e}", l.addr))),
        };
        // Port 0 asks the kernel for a port; every other listener joins it.
        let addr = first.local_addr()?;
        addrs.push(addr);
        listeners[0].push(Listener::Tcp(first));
        for ls in listeners.iter_mut().skip(1) {
            ls.push(Listener::Tcp(TcpListener::bind_reuseport(
                addr,
                cfg.backlog,
            )?));
        }
    }
    if let Some((path, perm)) = &cfg.unix {
        let u = UnixListener::bind(path, cfg.backlog, *perm)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: bind: {e}", path.display())))?;
        for ls in listeners.iter_mut().skip(1) {
            ls.push(Listener::Unix(u.try_clone()?));
        }
        listeners[0].push(Listener::Unix(u));
    }
    if listeners[0].len() > MAX_LISTENERS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("at most {MAX_LISTENERS} listening addresses"),
        ));
    }
    Ok(Bound {
        cfg,
        listeners,
        addrs,
        metrics: None,
    })
}

fn bind_one(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    // SO_REUSEPORT would let this process share a port another server
    // (say, a second kevy) is listening on, splitting its connections: a
    // plain bind first fails as Redis's does when the port is taken.
    if addr.port() != 0 {
        TcpListener::probe(addr)?;
    }
    TcpListener::bind_reuseport(addr, backlog)
}

fn skippable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc_errno::EADDRNOTAVAIL
                | libc_errno::EAFNOSUPPORT
                | libc_errno::EPROTONOSUPPORT
                | libc_errno::ENOPROTOOPT
                | libc_errno::ESOCKTNOSUPPORT
                | libc_errno::EPFNOSUPPORT
        )
    )
}

/// Linux's errno values for the errors [`skippable`] names (kevy-rt does
/// not call libc).
mod libc_errno {
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EPROTONOSUPPORT: i32 = 93;
    pub const ENOPROTOOPT: i32 = 92;
    pub const ESOCKTNOSUPPORT: i32 = 94;
    pub const EPFNOSUPPORT: i32 = 96;
}

/// Binds and runs: the whole server in one call.
pub fn run<S: Service>(cfg: Config, svc: Arc<S>, stats: Arc<Stats>) -> io::Result<()> {
    bind(cfg)?.run(svc, stats)
}

struct Reactor<S: Service> {
    id: usize,
    n: usize,
    /// Which shard owns each hash slot (every shard reads the one map).
    slots: Arc<SlotMap>,
    svc: Arc<S>,
    stats: Arc<Stats>,
    next_client_id: Arc<AtomicU64>,
    /// Shared with the busy desk, which waits on it while a script runs.
    poller: Rc<Poller>,
    listeners: Vec<Listener>,
    /// This reactor's copy of the run-time limits.
    limits: Arc<Limits>,
    lim: LimitsCopy,
    /// This shard's end of the ring mesh.
    mesh: Endpoint<S>,
    /// Its scheduling samples and whether it hands connections away
    /// (`reactor/balance.rs`).
    bal: balance::Balancer,
    /// Its part in moving slots between shards (`reactor/migrate.rs`).
    mig: migrate::Migrator,
    /// This shard's keyspace, lock table and waiters.
    ex: Executor<S>,
    /// The transactions of this shard's connections.
    coord: Coordinator<S>,
    /// CLIENT LIST/KILL this reactor coordinates, by slot.
    cops: Vec<Option<clients::ClientsOp<S>>>,
    free_cops: Vec<u32>,
    /// This shard's monitors (slab index, generation).
    monitors: Vec<(u32, u32)>,
    monitor_line: Vec<u8>,
    /// The subscriptions of this shard's connections.
    pubsub: pubsub::Registry,
    /// Subscribers moving in or out (`reactor/handoff.rs`).
    handoff: handoff::Handoff,
    /// A message frame being delivered (kept for its capacity).
    pub_frame: Vec<u8>,
    /// The shards a PUBLISH goes to, reused (publishing allocates nothing).
    pub_peers: Vec<usize>,
    /// The connection table. Boxed: a connection leaves the table while
    /// its commands run and comes back after, often for one or two
    /// commands when they wait on other shards, and moving a pointer
    /// costs nothing next to copying the whole connection each way (a
    /// move to another shard sends the same box).
    conns: Vec<Option<Box<Conn<S>>>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    /// Slab index of each connection, by client id: messages addressed to
    /// a client (client-side caching's invalidations) find it here.
    ids: std::collections::HashMap<u64, u32, ahash::RandomState>,
    /// Messages that go right after the reply of one command (slab index,
    /// generation, sequence number), whose reply is still on its way: a
    /// tracking connection's invalidation of its own write on another
    /// shard, which arrives in the same batch as the reply.
    follows: std::collections::HashMap<(u32, u32, u64), Vec<u8>, ahash::RandomState>,
    /// Commands of this reactor's connections that may ask to run again
    /// over the whole keyspace (scripts) and did not run inline, as
    /// `(conn, gen, seq)`: their connection reads nothing more until they
    /// answer, so a command sent after one never runs before it. Few.
    held: Vec<(u32, u32, u64)>,
    /// The metrics endpoint, on the shard that serves it.
    metrics: Option<metrics::Metrics>,
    /// What serves the other connections while a script runs long
    /// (`reactor/busy.rs`), kept between scripts; made by the first.
    desk: Option<Box<busy::Desk<S>>>,
    /// Connections with input to parse.
    ready: Vec<u32>,
    /// Connections whose next command a CLIENT PAUSE holds.
    paused: Vec<u32>,
    /// Connections with output to write or state to re-check.
    writes: Vec<u32>,
    /// Connections whose output waits for a remote reply (`COALESCE_US`);
    /// they stay marked `in_write` and are looked at every iteration.
    held_writes: Vec<u32>,
    /// Subscribers with pushed messages to write, oldest first: slab
    /// index, generation, and the `monotonic_us` at which each was queued
    /// (`reactor/pubsub.rs`, "Writing pushes").
    pushq: std::collections::VecDeque<(u32, u32, u64)>,
    /// Deadlines of blocked connections: (`monotonic_us`, slab index,
    /// generation, the blocked command's sequence number); stale entries
    /// are skipped when they come up.
    timers: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32, u32, u64)>>,
    /// `monotonic_us` and `unix_ms` at the start of this iteration.
    now_us: u64,
    /// When this reactor last sent requests to another shard
    /// (`ANSWER_SPIN_US`).
    asked_us: u64,
    /// Moving averages of how long the reactor stayed idle before its
    /// next event, in µs, each gap capped at 1 ms, and of the commands it
    /// ran between two idle moments (`CLIENT_SPIN_CMDS`); and those it ran
    /// since the last.
    idle_gap_us: u64,
    wake_cmds: u64,
    since_idle: u64,
    now_ms: u64,
    /// The pipeline look-ahead's second half, due at the next command
    /// ([`Service::prefetch_values`]): its database and marks.
    look: (usize, usize, [u64; PREFETCH_AHEAD]),
    /// Per peer, batches a desk took off the ring while a command ran
    /// long, in order: drained ahead of the ring (`reactor/busy.rs`).
    arrived: Vec<std::collections::VecDeque<Batch<S>>>,
    /// Spare lists swapped with `ready` and `writes` each iteration.
    scratch_ready: Vec<u32>,
    scratch_again: Vec<u32>,
    scratch_writes: Vec<u32>,
    pool: VecPool,
    part_out: Vec<u8>,
    /// The ride key of a connection's next command (`rides_along`).
    ride_scratch: Vec<u8>,
    /// Shared reads gathered in this iteration, started once its
    /// connections have run (crate doc, "Shared reads").
    shares: Vec<tx::ShareGroup<S>>,
    /// Shared reads gathered so far here (a group's id adds the shard).
    share_ids: u64,
    /// Digests of the latest reads that could have led a group: a read
    /// leads one only when it repeats one of them.
    recent_reads: [u64; tx::RECENT_READS],
    recent_at: usize,
    commands: u64,
    net_in: u64,
    net_out: u64,
}

impl<S: Service> Reactor<S> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: usize,
        slots: Arc<SlotMap>,
        svc: Arc<S>,
        stats: Arc<Stats>,
        next_client_id: Arc<AtomicU64>,
        listeners: Vec<Listener>,
        limits: Arc<Limits>,
        mesh: Endpoint<S>,
    ) -> io::Result<Self> {
        let poller = Poller::new()?;
        for (k, l) in listeners.iter().enumerate() {
            poller.add(l.fd(), Token(1 + k), Interest::READABLE)?;
        }
        // Edge-triggered, so a wake-up costs the waker's write and no read
        // here; the counter is reset once per tick (it would take 2^64
        // wake-ups to fill).
        poller.add(
            mesh.waker_fd(),
            WAKER,
            Interest::READABLE.add(Interest::EDGE),
        )?;
        let seed = clock::unix_us() ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let n = slots.shards();
        Ok(Reactor {
            id,
            n,
            ex: Executor::new(id, slots.clone(), svc.clone()),
            coord: Coordinator::new(id, slots.clone(), svc.clone(), seed),
            slots,
            svc,
            stats,
            next_client_id,
            poller: Rc::new(poller),
            listeners,
            lim: LimitsCopy::new(&limits),
            limits,
            mesh,
            bal: Default::default(),
            mig: Default::default(),
            cops: Vec::new(),
            free_cops: Vec::new(),
            monitors: Vec::new(),
            monitor_line: Vec::new(),
            pubsub: Default::default(),
            handoff: Default::default(),
            pub_frame: Vec::new(),
            pub_peers: Vec::new(),
            conns: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            ids: Default::default(),
            follows: Default::default(),
            held: Vec::new(),
            ready: Vec::new(),
            paused: Vec::new(),
            metrics: None,
            desk: None,
            writes: Vec::new(),
            held_writes: Vec::new(),
            pushq: Default::default(),
            timers: Default::default(),
            now_us: 0,
            asked_us: 0,
            idle_gap_us: 1000,
            wake_cmds: 1000,
            since_idle: 0,
            now_ms: 0,
            look: (0, 0, [0; PREFETCH_AHEAD]),
            arrived: (0..n).map(|_| Default::default()).collect(),
            scratch_ready: Vec::new(),
            scratch_again: Vec::new(),
            scratch_writes: Vec::new(),
            pool: VecPool::default(),
            part_out: Vec::new(),
            ride_scratch: Vec::new(),
            shares: Vec::new(),
            share_ids: 0,
            recent_reads: [0; tx::RECENT_READS],
            recent_at: 0,
            commands: 0,
            net_in: 0,
            net_out: 0,
        })
    }

    fn my_stats(&self) -> &ShardStats {
        &self.stats.shards[self.id]
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = clock::monotonic_ms() + self.lim.v.tick_ms();
        loop {
            if signal::shutdown_requested() {
                break;
            }
            // Shard 0 answers a SIGINT or SIGTERM for the server: the
            // service says how to stop (a final save first, or at once).
            // Not while a slot moves: a save then would miss the keys on
            // their way.
            if self.id == 0 && self.mesh.freeze() == 0 && signal::take_signal() {
                match self.svc.stop_command(&mut self.ex.shard) {
                    Some(args) => self.run_internal(args),
                    None => signal::request_shutdown(),
                }
                continue;
            }
            let busy = !self.ready.is_empty()
                || self.mesh.has_outgoing()
                || self.arrived.iter().any(|a| !a.is_empty())
                || !self.pushq.is_empty()
                || self.svc.busy(&self.ex.shard);
            let mut timeout = if busy {
                0
            } else if !self.held_writes.is_empty()
                || self.svc.background(&self.ex.shard)
                || self.leads_freeze()
            {
                // Held output must go out within COALESCE_US even if the
                // reply it waits for never comes (epoll counts in ms); work
                // the service does a bit per iteration (a snapshot) goes on
                // while the shard is idle.
                1
            } else {
                let mut t = next_tick.saturating_sub(clock::monotonic_ms());
                // A blocked client's deadline wakes the loop on time.
                if let Some(d) = self.next_deadline_ms(clock::monotonic_us()) {
                    t = t.min(d);
                }
                // So does the end of a pause holding a client.
                if !self.paused.is_empty() {
                    let left = self.mesh.pause_until().saturating_sub(clock::unix_ms());
                    t = t.min(left + 1);
                }
                t as i32
            };
            let idle_from = if timeout != 0 {
                let n = std::mem::take(&mut self.since_idle).min(1000);
                self.wake_cmds = (self.wake_cmds * 7 + n) / 8;
                clock::monotonic_us()
            } else {
                0
            };
            let waited = if timeout != 0 && self.poll_before_sleep(&mut events, idle_from) {
                Ok(events.len())
            } else {
                if timeout != 0 && self.mesh.going_to_sleep() {
                    timeout = 0;
                }
                self.poller.wait(&mut events, timeout)
            };
            self.mesh.awake();
            self.now_us = clock::monotonic_us();
            if idle_from != 0 {
                let gap = self.now_us.saturating_sub(idle_from).min(1000);
                self.idle_gap_us = (self.idle_gap_us * 7 + gap) / 8;
            }
            self.mesh.set_now(self.now_us);
            self.now_ms = clock::unix_ms();
            // Before the events: a connection accepted now goes where the
            // latest sample says.
            self.balance();
            if let Err(e) = waited {
                eprintln!("kevy: epoll_wait failed on shard {}: {e}", self.id);
                break;
            }
            // One load per iteration: CONFIG SET's changes arrive here.
            if self.lim.refresh(&self.limits) {
                next_tick = next_tick.min(clock::monotonic_ms() + self.lim.v.tick_ms());
            }
            self.svc.begin_iteration(&mut self.ex.shard);
            for ev in events.iter() {
                match ev.token {
                    WAKER => {}
                    metrics::LISTENER => {
                        if let Some(m) = &mut self.metrics {
                            m.accept(&self.poller, self.now_ms);
                        }
                    }
                    Token(t) if t >= metrics::BASE => {
                        if let Some(m) = &mut self.metrics {
                            m.event(ev.token, &self.poller, &*self.svc, &mut self.ex.shard);
                        }
                    }
                    Token(t) if t < FIRST_CONN => self.accept(t - 1),
                    Token(t) => {
                        let idx = (t - FIRST_CONN) as u32;
                        if ev.readable || ev.hup {
                            self.read(idx);
                        }
                        if ev.writable {
                            self.mark_write(idx);
                        }
                    }
                }
            }
            if !self.timers.is_empty() {
                self.expire_waits();
            }
            if !self.paused.is_empty() {
                self.release_paused();
            }
            self.turn();
            self.flush_writes();
            self.publish_stats();
            let now = clock::monotonic_ms();
            if now >= next_tick {
                self.mesh.drain_waker();
                self.listen();
                self.svc.tick(&mut self.ex.shard, &mut self.ex.effects);
                self.coord.tick();
                if let Some(m) = &mut self.metrics {
                    m.tick(&self.poller, self.now_ms);
                }
                // Expiry's events go out now, not after the next wake-up.
                if !self.ex.effects.pushes.is_empty() {
                    self.deliver_pushes(None);
                    self.mesh.flush();
                    self.flush_writes();
                }
                // What the server issues itself waits out a slot move, as
                // its clients' commands do.
                if self.mesh.freeze() == 0 {
                    if let Some(args) = self.svc.internal_command(&mut self.ex.shard) {
                        self.run_internal(args);
                    }
                }
                if self.lim.v.timeout_secs != 0 {
                    self.close_idle();
                }
                next_tick = clock::monotonic_ms().max(now) + self.lim.v.tick_ms();
            }
        }
        self.svc.stopping(&mut self.ex.shard, &mut self.ex.effects);
        // Close every connection on the way out.
        for idx in 0..self.conns.len() as u32 {
            if self.conns[idx as usize].is_some() {
                self.close(idx);
            }
        }
    }

    /// Polls the rings and the connections, yielding the core to any
    /// other thread that wants it between looks, while answers to this
    /// reactor's requests are due (`ANSWER_SPIN_US`) or its clients'
    /// requests are likely to come soon (`CLIENT_SPIN_CMDS`, from `idle`,
    /// when the reactor went idle); true when something arrived (the
    /// connections' events are in `events`).
    fn poll_before_sleep(&mut self, events: &mut Events, idle: u64) -> bool {
        let answers = if self.asked_us == 0 {
            0
        } else {
            self.asked_us + ANSWER_SPIN_US
        };
        let poll = u64::from(self.lim.v.idle_poll_us);
        let clients = if self.idle_gap_us * 5 < poll * 4 && self.wake_cmds < CLIENT_SPIN_CMDS {
            idle + poll
        } else {
            0
        };
        let until = answers.max(clients);
        if self.bal.no_poll || idle >= until {
            return false;
        }
        loop {
            if self.mesh.has_incoming() {
                events.clear();
                return true;
            }
            if matches!(self.poller.wait(events, 0), Ok(n) if n > 0) {
                return true;
            }
            if clock::monotonic_us() >= until {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// An iteration's work once its events are handled: what arrived on
    /// the rings, the connections with input, the transactions that can
    /// advance, then the batches for the other shards. Nothing here blocks
    /// (the simulation in `sim.rs` drives it without `epoll_wait`).
    fn turn(&mut self) {
        self.migrate_begin();
        self.listen();
        self.drain_rings();
        self.run_ready();
        if !self.shares.is_empty() {
            self.start_shares();
        }
        self.run_txs();
        if self.ex.waiters.has_ready() {
            self.serve_waiters();
        } else if !self.ex.local.is_empty() {
            // Waiters served as their commands ran (`serve_now`).
            self.pump();
        }
        self.svc
            .flush_pushes(&mut self.ex.shard, &mut self.ex.effects);
        if !self.ex.effects.pushes.is_empty() {
            self.deliver_pushes(None);
        }
        self.svc
            .end_iteration(&mut self.ex.shard, &mut self.ex.effects);
        self.mesh.flush();
        if self.mesh.take_asked() {
            self.asked_us = self.now_us;
        }
        self.migrate_end();
    }

    fn publish_stats(&mut self) {
        let s = &self.stats.shards[self.id];
        self.since_idle += self.commands;
        if self.commands != 0 {
            s.total_commands
                .fetch_add(std::mem::take(&mut self.commands), Ordering::Relaxed);
        }
        if self.net_in != 0 {
            s.net_input_bytes
                .fetch_add(std::mem::take(&mut self.net_in), Ordering::Relaxed);
        }
        if self.net_out != 0 {
            s.net_output_bytes
                .fetch_add(std::mem::take(&mut self.net_out), Ordering::Relaxed);
        }
    }

    // ---- connections -------------------------------------------------

    /// Closes the connections idle for longer than `timeout` seconds, as
    /// Redis's `clientsCronHandleTimeout`: not a blocked client (its own
    /// timeout applies), a subscriber, a monitor, or one still owed a
    /// reply. O(connections), once
    /// per tick, only while `timeout` is set.
    fn close_idle(&mut self) {
        let limit_ms = self.lim.v.timeout_secs.saturating_mul(1000);
        let now = clock::unix_ms();
        for idx in 0..self.conns.len() as u32 {
            let Some(c) = self.conns[idx as usize].as_ref() else {
                continue;
            };
            // A connection still owed a reply is busy, not idle: its
            // command waits on a lock or another shard.
            let exempt = c.st.blocked
                || c.st.waiting.is_some()
                || c.st.client.subscribed
                || c.st.monitor
                || !c.st.nothing_pending();
            if !exempt && now.saturating_sub(c.st.last_active_ms) > limit_ms {
                self.svc
                    .connection_event(crate::service::ConnEvent::IdleTimeout, &c.st.client);
                self.close(idx);
            }
        }
    }

    // Out of line: new connections are rare next to commands, and the
    // loop that runs commands stays smaller without it.
    #[inline(never)]
    fn accept(&mut self, which: usize) {
        let Some(listener) = self.listeners.get(which) else {
            return;
        };
        let shed = self.shedding();
        let mut admit = Admit {
            id: self.id,
            svc: &*self.svc,
            stats: &self.stats,
            next_client_id: &self.next_client_id,
            poller: &self.poller,
            lim: &self.lim.v,
            conns: &mut self.conns,
            gens: &mut self.gens,
            free: &mut self.free,
            ids: &mut self.ids,
        };
        match shed {
            None => admit.accept(listener, None),
            Some(to) => {
                // Starved: what it accepts goes to a shard with time.
                let mut fresh = Vec::new();
                admit.accept(listener, Some(&mut fresh));
                for idx in fresh {
                    self.move_if_movable(idx, to);
                }
            }
        }
    }

    fn read(&mut self, idx: u32) {
        let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        if !c.st.can_read() || c.io.eof {
            // Paused: interest is being dropped; a hang-up is noticed once
            // the connection can run again.
            self.mark_write(idx);
            return;
        }
        let io = &mut c.io;
        let mut total = 0;
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
                    total += k;
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
        self.net_in += total as u64;
        c.st.last_active_ms = self.now_ms;
        // What arrived may complete the command left incomplete.
        c.io.partial = false;
        if c.io.rend - c.io.rpos > self.lim.v.query_buf {
            // Redis closes a client whose query buffer exceeds the limit.
            c.io.eof = true;
            c.io.rbuf = Vec::new();
            c.io.rpos = 0;
            c.io.rend = 0;
        }
        if !c.in_ready {
            c.in_ready = true;
            self.ready.push(idx);
        }
    }

    fn run_ready(&mut self) {
        // Swap with the kept scratch list: no allocation per iteration.
        let mut ready = std::mem::take(&mut self.scratch_ready);
        std::mem::swap(&mut ready, &mut self.ready);
        let mut again = std::mem::take(&mut self.scratch_again);
        for &idx in &ready {
            let Some(mut c) = self.conns.get_mut(idx as usize).and_then(Option::take) else {
                continue;
            };
            c.in_ready = false;
            let more = self.run_conn(idx, &mut c);
            if more {
                c.in_ready = true;
                again.push(idx);
            }
            self.conns[idx as usize] = Some(c);
            self.mark_write(idx);
        }
        // Connections readied while we ran (coordinated commands ending).
        again.append(&mut self.ready);
        std::mem::swap(&mut self.ready, &mut again);
        ready.clear();
        self.scratch_ready = ready;
        self.scratch_again = again;
    }

    /// Parses and runs the connection's buffered commands; true when the
    /// command budget ran out with input left.
    fn run_conn(&mut self, idx: u32, c: &mut Conn<S>) -> bool {
        let gen = self.gens[idx as usize];
        let mut budget = CMD_BUDGET;
        c.st.last_active_ms = self.now_ms;
        // Redis's limits for a client yet to authenticate, decided per
        // batch of input: only a checked connection (the gated path) can
        // be one, and AUTH may leave it unchecked. A command that follows
        // AUTH in the same read is still held to them.
        if c.st.gate || c.io.parser.auth_required() {
            self.sync_auth_limits(c);
        }
        c.io.partial = false;
        while c.st.can_run() {
            if budget == 0 {
                return true;
            }
            let input = &c.io.rbuf[c.io.rpos..c.io.rend];
            if input.is_empty() {
                break;
            }
            match c.io.parser.parse(input) {
                Ok(Parse::Partial) => {
                    c.io.partial = true;
                    break;
                }
                Ok(Parse::Complete(used)) => {
                    // The look-ahead's second half, now that a command
                    // ran since its first: what it needs has arrived.
                    self.look_values();
                    // More commands behind this one: hint their keys now,
                    // so their loads overlap while this one runs.
                    c.io.hinted = c.io.hinted.saturating_sub(1);
                    let db = c.st.client.db as usize;
                    if c.io.hinted == 0
                        && used < input.len()
                        && self.svc.worth_prefetching(&self.ex.shard, db)
                    {
                        c.io.hinted = self.prefetch_pipeline(db, &mut c.io.parser, &input[used..]);
                    }
                    let args = c.io.parser.args(input);
                    if self.mesh.maybe_paused() {
                        if let Some(hold) = self.held_by_pause(&c.st, args) {
                            // It stays in the buffer until the pause ends.
                            c.io.parser.put_back();
                            self.hold(idx, &mut c.st, hold);
                            break;
                        }
                    }
                    if c.st.ride.is_some() && !self.rides_along(&c.st, args) {
                        // Another command than the one riding a
                        // transaction: it runs once that transaction sent
                        // everything (crate doc, "Riders").
                        c.io.parser.put_back();
                        c.st.ride_held = true;
                        break;
                    }
                    if !args.is_empty() {
                        self.commands += 1;
                        self.dispatch(idx, gen, &mut c.st, args);
                        // A tracking connection's invalidation of a key it
                        // wrote itself follows that command's reply, ahead
                        // of the next one's, as in Redis.
                        if c.st.client.tracking.on() && !self.ex.effects.pushes.is_empty() {
                            self.deliver_pushes(Some((idx, &mut c.st)));
                        }
                        if self.ex.waiters.fresh && !self.serve_fresh() {
                            // A transaction still holds a key it readied:
                            // its waiters are served once it lets go, at
                            // the end of this iteration, before the rest of
                            // this pipeline runs.
                            c.io.rpos += used;
                            return c.io.rpos < c.io.rend;
                        }
                    }
                    c.io.rpos += used;
                    budget -= 1;
                }
                Err(e) => {
                    let mut reply = Vec::new();
                    kevy_resp::Reply::new(&mut reply, c.st.client.resp3).error(&e.message());
                    c.st.push_ready(&reply);
                    c.st.closing = true;
                    break;
                }
            }
        }
        false
    }

    /// Whether `args` is the command that rides a transaction for the
    /// connection, on the same keys: it may ride along (or queue behind
    /// that transaction, on the same keys).
    fn rides_along(&mut self, st: &ConnState<S>, args: Args<'_>) -> bool {
        if args.is_empty() || st.multi.is_some() {
            return false;
        }
        if st.ride == Some(tx::SHARING) {
            return self.shares_along(st, args);
        }
        let Ok((_, route)) = self.svc.route(args, &st.client, self.n) else {
            return false;
        };
        let mut key = std::mem::take(&mut self.ride_scratch);
        coord::ride_key(args, &route, &mut key);
        let same = key == st.ride_key;
        self.ride_scratch = key;
        same
    }

    /// Hints the keys of the next commands in a connection's buffer
    /// (up to [`PREFETCH_AHEAD`] frames) that live here to the cache
    /// ([`Service::prefetch_nodes`]): in a keyspace bigger than the caches
    /// each lookup otherwise waits for two or three loads in turn, and
    /// that wait is most of what a pipelined GET costs. The third load's
    /// hint ([`Service::prefetch_values`]) reads what the first two
    /// brought, so it waits for the next command (`look`), by when they
    /// have arrived: done at once, it would stall this one. The frames
    /// are parsed once, here: the parser keeps them for the commands that
    /// follow ([`kevy_resp::Parser::parse_ahead`]). Returns how many
    /// commands the look covered, so the next look comes after they ran.
    #[inline]
    fn prefetch_pipeline(&mut self, db: usize, parser: &mut Parser, input: &[u8]) -> usize {
        let mut keys: [&[u8]; PREFETCH_AHEAD] = [&[]; PREFETCH_AHEAD];
        let mut k = 0;
        let (slots, id) = (&*self.slots, self.id);
        let frames = parser.parse_ahead(input, PREFETCH_AHEAD, |frame, spans| {
            // The second argument: the key of most keyed commands.
            if let Some(key) = spans.get(1).map(|s| &frame[s.range()]) {
                if slots.shard_of(key) == id {
                    keys[k] = key;
                    k += 1;
                }
            }
        });
        let keys = keys[..k].iter().copied();
        let marks = &mut self.look.2;
        self.look.1 = self.svc.prefetch_nodes(&self.ex.shard, db, keys, marks);
        self.look.0 = db;
        frames
    }

    /// The second half of the last look ahead, if it is due
    /// ([`Service::prefetch_values`]; see `prefetch_pipeline`).
    #[inline]
    fn look_values(&mut self) {
        if self.look.1 > 0 {
            let (db, n, marks) = &mut self.look;
            self.svc.prefetch_values(&self.ex.shard, *db, &marks[..*n]);
            *n = 0;
        }
    }

    /// Whether CLIENT PAUSE holds this command now: every command under
    /// `ALL`, the writing ones (and an EXEC that queued one) under
    /// `WRITE`. A pause that has run out is ended here.
    #[cold]
    #[inline(never)]
    fn held_by_pause(&mut self, st: &ConnState<S>, args: Args<'_>) -> Option<Hold<S::Cmd>> {
        if args.is_empty() {
            return None;
        }
        // A slot move holds every command (crate doc, "Moving slots to
        // the cores that have time").
        if self.mesh.freeze() != 0 {
            return Some(Hold::Freeze);
        }
        let all = self.mesh.paused_at(self.now_ms)?;
        let routed = self.svc.route(args, &st.client, self.n);
        let held = all
            || match routed {
                Ok((_, Route::Tx(TxOp::Exec))) => st.multi.as_ref().is_some_and(|q| {
                    q.cmds
                        .iter()
                        .any(|(c, a)| self.svc.pause_holds(*c, a.args()))
                }),
                Ok((cmd, _)) => self.svc.pause_holds(cmd, args),
                Err(_) => false,
            };
        held.then(|| Hold::Pause(routed.ok().map(|(cmd, _)| cmd)))
    }

    /// Holds a connection's next command until the pause or the slot move
    /// ends. A client CLIENT PAUSE holds is a blocked client, as in Redis:
    /// INFO counts it, CLIENT LIST shows `b` and the held command.
    #[cold]
    #[inline(never)]
    fn hold(&mut self, idx: u32, st: &mut ConnState<S>, hold: Hold<S::Cmd>) {
        if !st.paused {
            st.paused = true;
            self.paused.push(idx);
        }
        if let Hold::Pause(cmd) = hold {
            if cmd.is_some() {
                st.last_cmd = cmd;
            }
            if !st.pause_blocked {
                st.pause_blocked = true;
                self.my_stats()
                    .blocked_clients
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Runs again the connections a pause held, once it is over.
    fn release_paused(&mut self) {
        if self.mesh.paused_at(self.now_ms).is_some() || self.mesh.freeze() != 0 {
            return;
        }
        for idx in std::mem::take(&mut self.paused) {
            if let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) {
                unhold(&self.stats.shards[self.id], &mut c.st);
                if !c.in_ready {
                    c.in_ready = true;
                    self.ready.push(idx);
                }
            }
        }
    }

    /// Turns Redis's request limits for unauthenticated clients on or off
    /// for the commands the connection's parser reads next.
    #[cold]
    #[inline(never)]
    fn sync_auth_limits(&self, c: &mut Conn<S>) {
        let unauthenticated = c.st.client.checked && self.svc.unauthenticated(&c.st.session);
        c.io.parser.set_auth_required(unauthenticated);
    }

    fn mark_write(&mut self, idx: u32) {
        if let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) {
            if !c.in_write {
                c.in_write = true;
                self.writes.push(idx);
            }
        }
    }

    fn flush_writes(&mut self) {
        let mut writes = std::mem::take(&mut self.scratch_writes);
        std::mem::swap(&mut writes, &mut self.writes);
        writes.append(&mut self.held_writes);
        for &idx in &writes {
            if !self.flush_conn(idx) {
                self.close(idx);
            }
        }
        if let Some(to) = self.shedding() {
            // A connection that was just answered is at its most movable:
            // a worker blocked most of the time moves now or never.
            for &idx in &writes {
                self.move_if_movable(idx, to);
            }
        }
        writes.clear();
        self.scratch_writes = writes;
        if !self.pushq.is_empty() {
            self.flush_pushes();
        }
    }

    /// Writes a connection's output and updates its epoll interest; false
    /// when the connection is finished and must be closed.
    fn flush_conn(&mut self, idx: u32) -> bool {
        let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
            return true;
        };
        if c.st.unsent() > 0 && c.st.awaits_remote() && c.st.unsent() < COALESCE_BYTES {
            let since = *c.st.held_since.get_or_insert(self.now_us);
            if self.now_us.saturating_sub(since) < COALESCE_US && !c.st.closing {
                self.held_writes.push(idx);
                return true;
            }
        }
        c.st.held_since = None;
        c.in_write = false;
        while c.st.wpos < c.st.wbuf.len() {
            match c.io.stream.write(&c.st.wbuf[c.st.wpos..]) {
                Ok(k) => {
                    c.st.wpos += k;
                    self.net_out += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        if c.st.wpos == c.st.wbuf.len() {
            c.st.wbuf.clear();
            c.st.wpos = 0;
            if c.st.wbuf.capacity() > 1 << 20 {
                c.st.wbuf.shrink_to(READ_CHUNK);
            }
        } else if c.st.wpos > 1 << 20 {
            // A slow reader: drop what it has read so the buffer holds only
            // what is still owed.
            c.st.wbuf.drain(..c.st.wpos);
            c.st.wpos = 0;
        }
        // A blocked client that hangs up stops waiting at once (nothing is
        // taken for it once it is gone).
        if c.io.eof && c.st.waiting.as_ref().is_some_and(|w| !w.claimed) {
            return false;
        }
        let drained = c.st.nothing_pending() && c.st.unsent() == 0 && !c.st.blocked;
        // QUIT or a protocol error: close once the reply is out. A peer that
        // closed its side: close once every reply to what it sent is out.
        if drained && (c.st.closing || (c.io.eof && !c.in_ready)) {
            return false;
        }
        // Read while the connection may run; wait for writability while
        // output is stuck behind a full socket buffer.
        let read = c.st.can_read() && !c.io.eof;
        let write = c.st.unsent() > 0;
        let want = match (read, write) {
            (true, true) => Some(Interest::READABLE.add(Interest::WRITABLE)),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        };
        if want != c.io.interest {
            let token = Token(idx as usize + FIRST_CONN);
            let fd = c.io.stream.fd();
            let res = match (c.io.interest, want) {
                (_, None) => self.poller.delete(fd),
                (None, Some(w)) => self.poller.add(fd, token, w),
                (Some(_), Some(w)) => self.poller.modify(fd, token, w),
            };
            if res.is_err() {
                return false;
            }
            c.io.interest = want;
        }
        // Input parked while the connection was paused gets its turn. An
        // incomplete command waits for its bytes: readying it here would
        // spin the loop without sleeping until they come.
        if c.st.can_run() && c.io.rpos < c.io.rend && !c.io.partial && !c.in_ready {
            c.in_ready = true;
            self.ready.push(idx);
        }
        true
    }

    fn close(&mut self, idx: u32) {
        let Some(mut c) = self.conns.get_mut(idx as usize).and_then(Option::take) else {
            return;
        };
        if c.st.over_limit_bytes != 0 {
            let mut info = self.describe(&c.st, Some(&c.io));
            info.omem = c.st.over_limit_bytes;
            info.tot_mem += info.omem;
            self.svc.output_limit_closed(&info);
        }
        if c.io.interest.is_some() {
            let _ = self.poller.delete(c.io.stream.fd());
        }
        self.unwatch_all(&mut c.st);
        if c.st.monitor {
            self.stop_monitor(idx);
        }
        self.drop_subs(idx, &mut c.st);
        self.closing_waiter(&mut c.st);
        unhold(self.my_stats(), &mut c.st);
        self.svc
            .closed(&mut self.ex.shard, &c.st.client, &mut c.st.session);
        self.ids.remove(&c.st.client.id);
        drop(c);
        if !self.held.is_empty() {
            self.held.retain(|h| h.0 != idx);
        }
        self.coord.closed(idx, self.gens[idx as usize]);
        self.gens[idx as usize] = self.gens[idx as usize].wrapping_add(1);
        self.free.push(idx);
        self.my_stats()
            .connected_clients
            .fetch_sub(1, Ordering::Relaxed);
    }

    // ---- routing -----------------------------------------------------

    #[inline(always)]
    fn dispatch(&mut self, idx: u32, gen: u32, st: &mut ConnState<S>, args: Args<'_>) {
        if st.gate {
            return self.dispatch_gated(idx, gen, st, args);
        }
        match self.svc.route(args, &st.client, self.n) {
            Ok((cmd, route)) => match self.svc.admit_memory(&mut self.ex.shard, cmd, false) {
                None => self.run_routed(idx, gen, st, cmd, route, args),
                Some(msg) => self.refuse(st, args, msg),
            },
            Err(msg) => self.route_failed(st, args, &msg),
        }
    }

    /// A command refused at admission (`Service::admit_memory`).
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, st: &mut ConnState<S>, args: Args<'_>, msg: &[u8]) {
        self.svc.refused(&mut self.ex.shard, args, msg);
        self.push_error(st, msg);
    }

    /// A command refused by routing (unknown, wrong arity, a bad key
    /// argument).
    fn route_failed(&mut self, st: &mut ConnState<S>, args: Args<'_>, msg: &[u8]) {
        self.svc.refused(&mut self.ex.shard, args, msg);
        match self.svc.resolve(args) {
            Err(Refused {
                tx: Some(TxOp::Exec),
                msg,
            }) => self.exec_abort(st, &msg),
            _ => self.push_error(st, msg),
        }
    }

    /// A command of a connection in MULTI, subscribed in RESP2 (where
    /// Redis allows only (P|S)(UN)SUBSCRIBE, PING, QUIT and RESET), or
    /// right after CLIENT CACHING.
    #[cold]
    #[inline(never)]
    fn dispatch_gated(&mut self, idx: u32, gen: u32, st: &mut ConnState<S>, args: Args<'_>) {
        if st.reply_off || st.skip_next {
            return self.dispatch_muted(idx, gen, st, args);
        }
        self.dispatch_gated_inner(idx, gen, st, args);
    }

    /// A command whose reply CLIENT REPLY OFF or SKIP drops: it runs as
    /// any other, then its reply is taken back (or dropped when it
    /// arrives). CLIENT REPLY ON's own `+OK` is kept.
    fn dispatch_muted(&mut self, idx: u32, gen: u32, st: &mut ConnState<S>, args: Args<'_>) {
        let (was_off, was_skip) = (st.reply_off, st.skip_next);
        let (seq, unsent) = (st.next_seq(), st.unsent());
        st.skip_next = false;
        st.defer_own = true;
        self.dispatch_gated_inner(idx, gen, st, args);
        // A (un)subscribe's confirmations are pushes, which Redis sends
        // whatever CLIENT REPLY says, as it does messages.
        let pushes = matches!(
            self.svc.route(args, &st.client, self.n),
            Ok((_, Route::PubSub(op))) if !matches!(
                op,
                PubSubOp::Publish
                    | PubSubOp::SPublish
                    | PubSubOp::Channels
                    | PubSubOp::NumSub
                    | PubSubOp::NumPat
                    | PubSubOp::ShardChannels
                    | PubSubOp::ShardNumSub
            )
        );
        if ((was_off && st.reply_off) || was_skip) && !pushes {
            st.mute(seq, unsent);
        }
        st.end_defer_own();
        st.sync_gate();
    }

    fn dispatch_gated_inner(&mut self, idx: u32, gen: u32, st: &mut ConnState<S>, args: Args<'_>) {
        if st.client.checked && !self.admitted(st, args) {
            st.sync_gate();
            return;
        }
        if st.multi.is_some() {
            self.dispatch_in_multi(idx, gen, st, args);
        } else {
            match self.svc.route(args, &st.client, self.n) {
                Ok((cmd, route)) => {
                    let refusal = if st.client.subscribed && !st.client.resp3 {
                        self.svc.subscribed_refusal(cmd, args)
                    } else {
                        self.svc
                            .admit_memory(&mut self.ex.shard, cmd, false)
                            .map(<[u8]>::to_vec)
                    };
                    match refusal {
                        None => self.run_routed(idx, gen, st, cmd, route, args),
                        Some(msg) => {
                            self.svc.refused(&mut self.ex.shard, args, &msg);
                            if route == Route::Tx(TxOp::Exec) {
                                // A refused EXEC discards the transaction,
                                // as Redis's rejectCommand does.
                                self.exec_abort(st, &msg);
                            } else {
                                self.push_error(st, &msg);
                            }
                        }
                    }
                }
                Err(msg) => self.route_failed(st, args, &msg),
            }
        }
        // CLIENT CACHING's flag covers one command, or the MULTI block
        // that follows it (it travelled with the commands already sent).
        let caching = st.client.tracking.has(crate::service::Tracking::CACHING);
        if caching && st.multi.is_none() && !self.svc.keeps_caching(args) {
            st.client.tracking.flags &= !crate::service::Tracking::CACHING;
        }
        // Whatever held the connection here may be gone (the flag, or
        // tracking turned off with it).
        st.sync_gate();
    }

    /// Puts a command of a checked connection to the service's access
    /// control, after the checks Redis makes first (unknown command, arity,
    /// subcommand), whose errors the normal path then gives. A refusal is
    /// answered here (and aborts a transaction being queued, as any
    /// queue-time error does).
    #[cold]
    #[inline(never)]
    fn admitted(&mut self, st: &mut ConnState<S>, args: Args<'_>) -> bool {
        let Ok((cmd, _)) = self.svc.resolve(args) else {
            return true;
        };
        let in_multi = st.multi.is_some();
        match self
            .svc
            .admit(&mut st.client, &mut st.session, cmd, args, in_multi)
        {
            Ok(()) => true,
            Err(msg) => {
                self.svc.refused(&mut self.ex.shard, args, &msg);
                let exec = matches!(
                    self.svc.route(args, &st.client, self.n),
                    Ok((_, Route::Tx(TxOp::Exec)))
                );
                if exec {
                    // As Redis's rejectCommand: EXECABORT, and the
                    // transaction is discarded.
                    self.exec_abort(st, &msg);
                } else {
                    if let Some(q) = st.multi.as_mut() {
                        q.aborted = true;
                    }
                    self.push_error(st, &msg);
                }
                false
            }
        }
    }

    /// Marks every connection of this shard for the access check on its
    /// next command (the rules changed).
    pub(super) fn recheck_local(&mut self) {
        for c in self.conns.iter_mut().flatten() {
            c.st.client.checked = true;
            c.st.sync_gate();
        }
    }

    /// Runs a routed command: it becomes the connection's last command,
    /// MONITOR sees it (EXEC shows its queue first, at `tx_control`), and
    /// it goes where its route says.
    #[inline(always)]
    fn run_routed(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        cmd: S::Cmd,
        route: Route,
        args: Args<'_>,
    ) {
        st.last_cmd = Some(cmd);
        if self.monitored() && route != Route::Tx(TxOp::Exec) && self.svc.monitor_shows(cmd) {
            self.feed_monitors(&st.client, args);
        }
        self.dispatch_routed(idx, gen, st, cmd, route, args)
    }

    /// CLIENT REPLY, PAUSE and UNPAUSE: what they change in the runtime.
    /// The connections an UNPAUSE frees run from the next iteration on.
    fn conn_setting(mesh: &Endpoint<S>, st: &mut ConnState<S>, action: ConnAction) {
        match action {
            ConnAction::Reply(ReplyMode::On) => st.reply_off = false,
            ConnAction::Reply(ReplyMode::Off) => st.reply_off = true,
            ConnAction::Reply(ReplyMode::Skip) => st.skip_next = !st.reply_off,
            ConnAction::Pause { until_ms, all } => mesh.pause(until_ms, all),
            ConnAction::Unpause => mesh.unpause(),
            _ => {}
        }
        st.sync_gate();
    }

    /// Appends an error reply for the next sequence number.
    fn push_error(&mut self, st: &mut ConnState<S>, msg: &[u8]) {
        let mut reply = std::mem::take(&mut self.part_out);
        reply.clear();
        kevy_resp::Reply::new(&mut reply, st.client.resp3).error_bytes(msg);
        st.push_ready(&reply);
        self.part_out = reply;
    }

    #[inline(always)]
    fn dispatch_routed(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        cmd: S::Cmd,
        route: Route,
        args: Args<'_>,
    ) {
        match route {
            Route::Conn => {
                let action = if st.nothing_pending() {
                    let a = self.svc.exec_conn(
                        &mut self.ex.shard,
                        &mut st.client,
                        &mut st.session,
                        cmd,
                        args,
                        &mut st.wbuf,
                    );
                    st.done_seq += 1;
                    a
                } else {
                    st.reserve_parked(4096);
                    let start = st.parked.len();
                    let a = self.svc.exec_conn(
                        &mut self.ex.shard,
                        &mut st.client,
                        &mut st.session,
                        cmd,
                        args,
                        &mut st.parked,
                    );
                    st.park_since(start);
                    a
                };
                match action {
                    ConnAction::Continue => {}
                    ConnAction::Close => st.closing = true,
                    ConnAction::Reset => {
                        st.reply_off = false;
                        st.skip_next = false;
                        st.set_multi(None);
                        self.unwatch_all(st);
                        self.drop_subs(idx, st);
                    }
                    ConnAction::Monitor => self.start_monitor(idx, gen, st),
                    other => Self::conn_setting(&self.mesh, st, other),
                }
                // HELLO may switch a subscribed connection's protocol;
                // CLIENT CACHING sends the next command the slow way; AUTH
                // and RESET change the access check.
                st.sync_gate();
            }
            Route::Clients { all } => self.clients(idx, gen, st, cmd, args, all),
            Route::PubSub(op) => {
                let t0 = kevy_sys::clock::cycles();
                self.pubsub(idx, gen, st, op, args);
                self.svc.ran_in_runtime(&mut self.ex.shard, cmd, None, t0);
            }
            Route::Tx(op) => {
                let t0 = kevy_sys::clock::cycles();
                let error = self.tx_control(idx, gen, st, op, args);
                self.svc.ran_in_runtime(&mut self.ex.shard, cmd, error, t0);
            }
            Route::Shard(s) => self.single(s % self.n, idx, gen, st, (cmd, route), args),
            Route::Keys {
                first,
                last,
                step,
                extra,
                ..
            } => {
                // The hot path: a plain loop (not `Route::keys`), which the
                // single-key case runs once.
                let (first, last, step) = key_range(args.len(), first, last, step);
                let mut target = None;
                let mut spans = false;
                // Each key's shard, in order, for the transaction's plan
                // when they span shards (it need not hash them again).
                let mut shards = [0u16; ROUTED_SHARDS];
                let mut seen = 0;
                let (slots, mig) = (&*self.slots, &mut self.mig);
                let mut see = |k: &[u8]| {
                    // While a shard is starved, one key in eight counts
                    // towards its slot's heat (crate doc, "Which slot").
                    let s = if mig.warming {
                        let slot = crate::slot::slot(k);
                        if mig.counts() {
                            slots.warm(crate::slot::Heat::Routed, slot);
                        }
                        slots.owner(slot)
                    } else {
                        slots.shard_of(k)
                    };
                    if seen < ROUTED_SHARDS {
                        shards[seen] = s as u16;
                    }
                    seen += 1;
                    match target {
                        None => target = Some(s),
                        Some(t) if t != s => spans = true,
                        _ => {}
                    }
                };
                let mut i = first;
                while i <= last && i < args.len() {
                    see(args.get(i));
                    i += step;
                }
                if extra != 0 && (extra as usize) < args.len() {
                    see(args.get(extra as usize));
                }
                if spans {
                    // Keys on several shards: atomic as a transaction. Its
                    // keys' slots warm (one such command in eight): slots
                    // used together across shards move to one (crate doc,
                    // "Which slot").
                    if self.mig.counts() {
                        self.warm_keys(route, args);
                    }
                    let shards = (seen <= ROUTED_SHARDS).then(|| &shards[..seen]);
                    self.start_tx_routed(idx, gen, st, cmd, route, args, shards);
                } else {
                    self.single(target.unwrap_or(self.id), idx, gen, st, (cmd, route), args);
                }
            }
            // The whole keyspace (KEYS, DBSIZE, FLUSHALL, RANDOMKEY, …): one
            // moment across every shard, so a transaction over all of them.
            Route::All(_) if self.n > 1 => {
                self.start_tx_routed(idx, gen, st, cmd, route, args, None)
            }
            Route::All(_) => self.single(self.id, idx, gen, st, (cmd, route), args),
        }
    }

    /// Runs a command whose keys all live on shard `s`: inlined into the
    /// connection's loop, so the hot path (a local key) pays no call.
    #[inline(always)]
    fn single(
        &mut self,
        s: usize,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        (cmd, route): (S::Cmd, Route),
        args: Args<'_>,
    ) {
        let dest = Dest {
            conn: idx,
            gen,
            seq: st.next_seq(),
            part: 0,
        };
        if s != self.id {
            return self.single_remote(s, dest, st, cmd, args);
        }
        if self.ex.locks.active()
            && self
                .ex
                .defer_if_locked(None, dest, (cmd, Some(route)), st.client, args)
        {
            st.await_local();
            self.hold_if_reaching(st, dest, cmd);
            return;
        }
        // Straight to the output when nothing is outstanding (the hot
        // path), else parked behind the outstanding replies.
        let direct = st.nothing_pending();
        if !direct {
            st.reserve_parked(4096);
        }
        let start = st.parked.len();
        let out = if direct { &mut st.wbuf } else { &mut st.parked };
        let home = self.id;
        let block = if self.svc.runs_apart(cmd) {
            self.run_apart(home, dest, &st.client, cmd, args, out)
        } else {
            self.ex.run_plain(&st.client, cmd, args, out)
        };
        match block {
            None if direct => st.done_seq += 1,
            None => st.park_since(start),
            Some(blocking::ESCALATE) => {
                st.await_remote();
                let client = st.client;
                st.blocked =
                    self.escalate(idx, gen, dest.seq, client, cmd, args.to_owned_args(), true);
            }
            Some(timeout) => {
                st.await_local();
                self.start_wait_st(idx, gen, st, dest.seq, self.id, timeout);
            }
        }
    }

    /// Sends a command whose keys all live on another shard `s`.
    #[inline(never)]
    fn single_remote(
        &mut self,
        s: usize,
        dest: Dest,
        st: &mut ConnState<S>,
        cmd: S::Cmd,
        args: Args<'_>,
    ) {
        st.await_remote();
        let client = st.client;
        let b = self.batch(s);
        let (first, n) = b.push_args(args.iter());
        b.reqs.push(Req::Exec {
            dest,
            cmd,
            client,
            first,
            n,
        });
        self.hold_if_reaching(st, dest, cmd);
    }

    /// A command that may ask to run again over the whole keyspace, or a
    /// blocking one, went to another shard or behind a lock: its
    /// connection runs nothing more until it answers or blocks (`held`).
    /// A command sent after it could otherwise run before its second run;
    /// or, after a blocking command, run while the client is blocked (and a
    /// second blocking command would find the client already parked).
    fn hold_if_reaching(&mut self, st: &mut ConnState<S>, dest: Dest, cmd: S::Cmd) {
        if self.svc.reaches_undeclared(cmd) || self.svc.blocking(cmd) {
            st.blocked = true;
            self.held.push((dest.conn, dest.gen, dest.seq));
        }
    }

    /// Whether `dest` is a held command ([`Self::hold_if_reaching`]); it
    /// no longer is.
    fn unhold(&mut self, dest: Dest) -> bool {
        let Some(i) = self
            .held
            .iter()
            .position(|h| *h == (dest.conn, dest.gen, dest.seq))
        else {
            return false;
        };
        self.held.swap_remove(i);
        true
    }

    fn push_fan(&mut self, st: &mut ConnState<S>, fo: FanOut) {
        if fo.left == 0 {
            let mut v = self.pool.get();
            fo.finish(&mut v);
            st.push_ready(&v);
            self.pool.put(v);
        } else {
            st.await_fan(Box::new(fo));
        }
    }

    // ---- the mesh ----------------------------------------------------

    #[inline]
    fn batch(&mut self, s: usize) -> &mut Batch<S> {
        self.mesh.batch(s)
    }

    fn drain_rings(&mut self) {
        for peer in 0..self.n {
            for _ in 0..RING_BUDGET {
                // What a desk took off the ring comes first (busy.rs).
                let Some(mut b) = self.arrived[peer]
                    .pop_front()
                    .or_else(|| self.mesh.pop(peer))
                else {
                    break;
                };
                // An empty one is a batch of this shard's that the peer
                // had no room to keep (`recycle_from`): nothing to run.
                let returned = b.is_empty();
                if !returned {
                    self.handle_batch(peer, &mut b);
                }
                self.mesh.recycle_from(peer, b, returned);
            }
        }
    }

    /// Hints the keys of the commands `reqs[from..]` of a peer's batch
    /// (up to [`PREFETCH_AHEAD`]) in the database of the first, as
    /// `prefetch_pipeline` does for a connection's: the key of most
    /// commands is their first argument.
    #[inline]
    fn prefetch_batch(&mut self, b: &Batch<S>, from: usize) {
        let reqs = &b.reqs[from..b.reqs.len().min(from + PREFETCH_AHEAD)];
        let cmd = |req: &Req<S>| match *req {
            Req::Exec {
                client, first, n, ..
            }
            | Req::TxExec {
                client, first, n, ..
            } if n > 1 => Some((client.db, b.args_at(first, n).get(1))),
            _ => None,
        };
        let Some((db, _)) = reqs.iter().find_map(cmd) else {
            return;
        };
        if !self.svc.worth_prefetching(&self.ex.shard, db as usize) {
            return;
        }
        let keys = reqs.iter().filter_map(cmd).filter(|c| c.0 == db);
        let marks = &mut self.look.2;
        self.look.1 =
            self.svc
                .prefetch_nodes(&self.ex.shard, db as usize, keys.map(|c| c.1), marks);
        self.look.0 = db as usize;
    }

    fn handle_batch(&mut self, peer: usize, b: &mut Batch<S>) {
        for c in b.conns.drain(..) {
            self.adopt(c);
        }
        if !self.handoff.starting_empty() {
            self.start_cuts();
        }
        let mut req_snaps = std::mem::take(&mut b.req_snaps).into_iter();
        let mut slot_moves = std::mem::take(&mut b.slot_moves).into_iter();
        let mut req_shares = std::mem::take(&mut b.req_shares).into_iter();
        let mut ids = std::mem::take(&mut b.ids).into_iter();
        // A transaction whose lock request had to wait: its commands and
        // unlock behind it in this batch wait with it.
        let mut waiting_tx: Option<u32> = None;
        // A transaction whose lock request was refused: what followed it
        // here is dropped (its coordinator sends it again in order).
        let mut refused_tx: Option<u32> = None;
        for (i, req) in b.reqs.iter().enumerate() {
            if i % PREFETCH_AHEAD == 0 && b.reqs.len() > 1 {
                self.prefetch_batch(b, i);
            } else {
                // The hints' second half, one command later.
                self.look_values();
            }
            match *req {
                Req::Exec {
                    dest,
                    cmd,
                    client,
                    first,
                    n,
                } => {
                    let args = b.args_at(first, n);
                    if self.ex.locks.active()
                        && self
                            .ex
                            .defer_if_locked(Some(peer), dest, (cmd, None), client, args)
                    {
                        continue;
                    }
                    // Waiters a transaction readied here, once it let go
                    // (`Executor::unlock`), are served before the commands
                    // behind it, as Redis serves them right after EXEC.
                    if self.ex.waiters.fresh {
                        self.serve_now();
                    }
                    let resp = if self.svc.runs_long(cmd) {
                        self.lending(|ex, mesh, _| {
                            ex.run_peer_cmd(mesh, peer, dest, &client, cmd, args)
                        })
                    } else {
                        self.ex
                            .run_peer_cmd(&mut self.mesh, peer, dest, &client, cmd, args)
                    };
                    if let Some(resp) = resp {
                        self.batch(peer).resps.push(resp);
                    }
                    // Before the peer's next command, as Redis serves.
                    if self.ex.waiters.fresh {
                        self.serve_now();
                    }
                }
                Req::TxExec {
                    op,
                    part,
                    sub,
                    cmd,
                    client,
                    first,
                    n,
                    late,
                } => {
                    let args = b.args_at(first, n);
                    if refused_tx == Some(op) {
                        continue;
                    }
                    // Behind its lock request if that waits here: right
                    // behind it in this batch, or (a rider's part, `late`)
                    // with other requests queued in between since.
                    let queued = (late || waiting_tx == Some(op))
                        && self.ex.attach_to(peer, op, part, sub, cmd, client, args);
                    if !queued {
                        self.ex
                            .run_tx_cmd(&mut self.mesh, peer, op, part, sub, cmd, &client, args);
                    }
                }
                Req::Lock {
                    op,
                    client,
                    whole,
                    read,
                    watch,
                    last,
                    no_wait,
                    log,
                    first,
                    n,
                } => {
                    let mut keys = self.ex.locks.keys_vec();
                    keys.extend_from_slice(&b.lock_keys[first as usize..(first + n) as usize]);
                    let claim = crate::lock::Claim {
                        keys,
                        whole,
                        client,
                        read,
                        via: peer as u32,
                    };
                    let goes = self.ex.lock_request(
                        &mut self.mesh,
                        peer,
                        op,
                        claim,
                        watch,
                        last,
                        no_wait,
                        log,
                    );
                    waiting_tx = (!goes && !no_wait).then_some(op);
                    refused_tx = (!goes && no_wait).then_some(op);
                }
                Req::SlotIn { n } => {
                    let (slots, waiters) = slot_moves.next().unwrap_or_default();
                    self.slot_in(peer, slots, req_snaps.by_ref().take(n as usize), waiters);
                }
                Req::Rehome { client, from } => self.rehome(peer, client, from as usize),
                Req::Unlock { op } if refused_tx == Some(op) => {}
                Req::Unlock { op } if waiting_tx == Some(op) => self.ex.attach_unlock(),
                Req::Unlock { op } => {
                    let owner = crate::lock::tx_id(peer, op);
                    self.releasing(|ex, mesh, _| ex.unlock(mesh, owner));
                    self.pump();
                }
                Req::Export { op, first, n } => {
                    let args = b.args_at(first, n);
                    if refused_tx == Some(op) {
                        continue;
                    }
                    if waiting_tx == Some(op) {
                        // Asked right behind a lock request that waits:
                        // copied once the locks are held.
                        self.ex.attach_export(args);
                    } else {
                        self.ex.export_to(&mut self.mesh, peer, op, args);
                    }
                }
                Req::ExportNames { op } => {
                    let snaps = self.svc.export_names(&mut self.ex.shard);
                    let n = snaps.len() as u32;
                    let out = self.batch(peer);
                    out.resp_snaps.extend(snaps);
                    out.resps.push(Resp::Exported { op, n });
                }
                Req::Import { op, n, share } => {
                    let tag = self.ex.tag_of(crate::lock::tx_id(peer, op));
                    self.ex.effects.set_tx(tag);
                    if share {
                        if let Some(share) = req_shares.next() {
                            self.svc
                                .log_share(&mut self.ex.shard, &mut self.ex.effects, &share);
                        }
                    }
                    for (k, snap) in req_snaps.by_ref().take(n as usize) {
                        self.svc
                            .import(&mut self.ex.shard, &mut self.ex.effects, &k, snap, !share);
                        self.ex.note_import(&k);
                    }
                    self.ex.effects.set_tx(None);
                    if tag.is_some() {
                        // A logged transaction decides only once every
                        // part is logged: the write-back is acknowledged
                        // as a reply to no command, which leaves after
                        // this shard's log.
                        let b = self.batch(peer);
                        let start = b.rdata.len() as u32;
                        b.resps.push(Resp::TxReply {
                            op,
                            part: u32::MAX,
                            sub: 0,
                            start,
                            len: 0,
                        });
                    }
                }
                Req::Watch {
                    dest,
                    client,
                    db,
                    first,
                    n,
                } => {
                    let keys = b.args_at(first, n);
                    if !self.ex.may_watch(client, peer) {
                        self.ex
                            .defer_watch(Some(peer), dest, client, db, keys.to_owned_args());
                    } else {
                        self.ex
                            .register_watch(&mut self.mesh, Some(peer), dest, client, db, keys);
                    }
                }
                Req::Unwatch { client } => {
                    let watcher = crate::lock::owner(client, peer as u32);
                    self.svc.unwatch(&mut self.ex.shard, watcher);
                }
                Req::Clients { op } => self.send_infos(peer, op),
                Req::Kill { op, n } => {
                    for id in ids.by_ref().take(n as usize) {
                        self.kill_local(id);
                    }
                    self.batch(peer).resps.push(Resp::Killed { op });
                }
                Req::Recheck { op } => {
                    self.recheck_local();
                    self.batch(peer).resps.push(Resp::Killed { op });
                }
                Req::Unblock { op, n, error } => {
                    for id in ids.by_ref().take(n as usize) {
                        self.unblock_local(id, error);
                    }
                    self.batch(peer).resps.push(Resp::Killed { op });
                }
                Req::Monitor { first, n } => {
                    let line = b.args_at(first, n);
                    if !line.is_empty() {
                        self.monitor_out(line.get(0));
                    }
                }
                Req::Publish {
                    dest,
                    sharded,
                    first,
                    n,
                } => {
                    let a = b.args_at(first, n);
                    if a.len() == 2 {
                        self.publish_for_peer(peer, dest, sharded, a.get(0), a.get(1));
                    }
                }
                Req::Notify { first, n, sharded } => {
                    let a = b.args_at(first, n);
                    if a.len() == 2 {
                        self.deliver_notice(peer, sharded, a.get(0), a.get(1));
                    }
                }
                Req::CutAsk { from, e } => self.cut_ask(peer, from as usize, e),
                Req::Cut { e } => self.cut_at_source(peer, e),
                Req::CutDirect { from, e } => self.cut_direct(from as usize, e, peer),
                Req::CutFwd { x, e } => self.cut_fwd(peer, x as usize, e),
                Req::Forward { first, n } => {
                    let a = b.args_at(first, n);
                    if a.len() == 2 {
                        self.forwarded(a.get(0), a.get(1));
                    }
                }
                Req::TxPublish {
                    op,
                    part,
                    sub,
                    sharded,
                    first,
                    n,
                } => {
                    let a = b.args_at(first, n);
                    if a.len() == 2 {
                        self.publish_for_tx(peer, op, part, sub, sharded, a.get(0), a.get(1));
                    }
                }
                Req::Invalidate {
                    client,
                    writer,
                    bcast,
                    after,
                    first,
                    n,
                } => {
                    let a = b.args_at(first, n);
                    if a.len() == 1 {
                        let inv = (client, writer, bcast, after);
                        self.invalidate_here(&mut None, inv, a.get(0));
                    }
                }
                Req::Redirected {
                    target,
                    tracker,
                    resp3,
                    first,
                    n,
                } => {
                    let a = b.args_at(first, n);
                    let payload = tracking::Payload::from_args(a, resp3);
                    self.redirected_here(&mut None, target, tracker, peer, payload);
                }
                Req::RedirBroken { tracker, redirect } => {
                    self.redir_broken_here(&mut None, tracker, redirect)
                }
                Req::Track {
                    client,
                    home,
                    first,
                    n,
                } => {
                    let a = b.args_at(first, n);
                    if a.len() == 1 {
                        self.svc
                            .track_read(&mut self.ex.shard, client, home, a.get(0));
                    }
                }
                Req::Wake { client, dest } => self.wake(peer, client, dest),
                Req::Unpark { client } => self.ex.unpark(client, peer),
                Req::Unhold { client } => self.ex.hold(client, false, peer),
                Req::Retry {
                    dest,
                    cmd,
                    client,
                    first,
                    n,
                } => self.retry(peer, dest, client.id, cmd, b.args_at(first, n)),
                Req::Park {
                    dest,
                    cmd,
                    client,
                    first,
                    n,
                } => self.ex.park(peer, dest, &client, cmd, b.args_at(first, n)),
                Req::Escalate {
                    dest,
                    cmd,
                    client,
                    first,
                    n,
                } => {
                    let args = b.args_at(first, n).to_owned_args();
                    let holds = self.unhold(dest);
                    self.escalate(dest.conn, dest.gen, dest.seq, client, cmd, args, holds);
                }
                Req::PutBack {
                    client,
                    db,
                    first,
                    n,
                } if n > 0 => {
                    let reply = b.args_at(first, 1).get(0);
                    let args = b.args_at(first + 1, n - 1);
                    self.ex.put_back(peer, client, db, reply, args);
                }
                Req::PutBack { .. } => {}
            }
        }
        drop(req_snaps);
        let mut resp_snaps = std::mem::take(&mut b.resp_snaps).into_iter();
        let mut infos = std::mem::take(&mut b.infos).into_iter();
        for resp in &b.resps {
            match *resp {
                Resp::Served {
                    dest,
                    client,
                    db,
                    start,
                    len,
                    first,
                    n,
                } => {
                    let bytes = &b.rdata[start as usize..(start + len) as usize];
                    let args = b.args_at(first, n);
                    if self.served(peer, dest, client, db, bytes, args) {
                        self.deliver_local(dest, bytes);
                    }
                }
                Resp::Reply { dest, start, len } => {
                    let bytes = &b.rdata[start as usize..(start + len) as usize];
                    if !self.follows.is_empty() {
                        if let Some(then) = self.follows.remove(&(dest.conn, dest.gen, dest.seq)) {
                            self.deliver_followed(dest, bytes, &then);
                            continue;
                        }
                    }
                    self.deliver_local(dest, bytes);
                }
                Resp::TxReply {
                    op,
                    part,
                    sub,
                    start,
                    len,
                } => {
                    let bytes = &b.rdata[start as usize..(start + len) as usize];
                    self.coord.reply(op, part, sub, bytes);
                    self.pump();
                }
                Resp::Locked { op, changed } => {
                    self.coord.locked(&mut self.ex, &mut self.mesh, op, changed);
                    self.pump();
                }
                Resp::Refused { op } => {
                    self.releasing(|ex, mesh, coord| coord.refused(ex, mesh, op));
                    self.pump();
                }
                Resp::Exported { op, n } => {
                    self.coord
                        .exported(op, resp_snaps.by_ref().take(n as usize));
                }
                Resp::Clients { op, n } => {
                    self.clients_arrived(op, infos.by_ref().take(n as usize));
                }
                Resp::Killed { op } => self.kills_done(op),
                Resp::Blocked {
                    dest,
                    client,
                    timeout,
                } => self.start_wait(dest.conn, dest.gen, client, dest.seq, peer, timeout),
                Resp::Woken { client, answer } => {
                    self.ex.woken(&mut self.mesh, peer, client, answer);
                }
                Resp::SlotTaken => self.slot_taken(),
                Resp::Rehomed { client, gone } => self.rehomed(peer, client, gone),
            }
        }
        self.send_put_backs();
    }

    /// Connection `conn` if it is still the one of generation `gen`.
    fn conn_at(&mut self, conn: u32, gen: u32) -> Option<&mut Conn<S>> {
        if self.gens.get(conn as usize) != Some(&gen) {
            return None;
        }
        self.conns
            .get_mut(conn as usize)
            .and_then(Option::as_deref_mut)
    }

    /// Hands a reply to one of this reactor's connections.
    fn deliver_local(&mut self, dest: Dest, bytes: &[u8]) {
        let held = !self.held.is_empty() && self.unhold(dest);
        if self.gens.get(dest.conn as usize) != Some(&dest.gen) {
            return;
        }
        if held {
            if let Some(c) = self
                .conns
                .get_mut(dest.conn as usize)
                .and_then(Option::as_mut)
            {
                c.st.blocked = false;
                if !c.in_ready {
                    c.in_ready = true;
                    self.ready.push(dest.conn);
                }
            }
        }
        if let Some(c) = self
            .conns
            .get_mut(dest.conn as usize)
            .and_then(Option::as_mut)
        {
            c.st.deliver(dest.seq, dest.part, bytes, &mut self.pool);
            if !c.in_write {
                c.in_write = true;
                self.writes.push(dest.conn);
            }
            if c.st.waiting.is_some() {
                self.wait_answered(dest.conn, dest.seq);
            }
        }
    }
}

impl<S: Service> Wire<S> for Endpoint<S> {
    #[inline]
    fn batch(&mut self, s: usize) -> &mut Batch<S> {
        Endpoint::batch(self, s)
    }
}
