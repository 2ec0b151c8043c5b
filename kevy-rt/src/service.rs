//! The seam between the runtime and the commands: kevy-rt knows routing
//! facts (which arguments are keys, how fan-out parts fold), never commands.

use crate::exec::{Effects, Share, Sink};
use crate::slot::{SlotMap, SlotSet};
use kevy_resp::{Args, OwnedArgs};
use std::net::SocketAddr;
use std::sync::Arc;

/// How the parts of a command that fans out to several shards combine.
#[derive(Clone, Copy, Debug)]
pub enum Fold {
    /// Not split: all keys must be served as one unit (one shard, or a
    /// coordinated execution over copies of the keys).
    One,
    /// Integer replies added (DEL, EXISTS, DBSIZE).
    Sum,
    /// `+OK` if every part says so, else the first error (MSET, FLUSHALL).
    AllOk,
    /// The first error, else part 0's reply: every shard says the same
    /// thing (BGSAVE's "Background saving started").
    Agree,
    /// Array replies re-interleaved in the original key order (MGET).
    Gather,
    /// Array replies concatenated (KEYS).
    Concat,
    /// One non-null reply, picked at random (RANDOMKEY).
    Random,
    /// Pages of one iteration over the shards in shard order (SCAN): each
    /// part is `[cursor, [elements…]]`, where cursor `"0"` means the part's
    /// shard is done. The elements are concatenated in part order up to and
    /// including the first part whose shard is not done, and that part's
    /// cursor is the reply's; `"0"` when every part is done. Parts after
    /// that one are dropped: the next call, resuming at its cursor, visits
    /// their shards again.
    Pages,
    /// The command's own combination of the parts' replies, given in
    /// shard order (DEBUG DIGEST mixes per-shard digests).
    With(PartsFold),
}

/// A [`Fold::With`] function: the parts' replies in shard order, and the
/// reply to append to.
pub type PartsFold = fn(&[&[u8]], &mut Vec<u8>);

impl PartialEq for Fold {
    fn eq(&self, other: &Fold) -> bool {
        match (self, other) {
            // The same function is the same fold (compared by address).
            (Fold::With(a), Fold::With(b)) => *a as usize == *b as usize,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for Fold {}

/// Where a command runs, decided by the command table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// On the connection's home thread with its connection state; reads no
    /// shard's keys (PING, SELECT, HELLO, CLIENT, INFO, …).
    Conn,
    /// Keys at positions `first, first+step, …` up to `last` (negative counts
    /// from the end: -1 is the last argument), plus `extra` when non-zero.
    /// With a fold other than [`Fold::One`] the key groups (`step` arguments
    /// from each key on) may be split per shard.
    Keys {
        first: u32,
        last: i32,
        step: u32,
        extra: u32,
        fold: Fold,
    },
    /// Every shard runs the same command; replies fold. With [`Fold::One`]
    /// it runs once instead, by copy, over the keys it names as it reads
    /// them ([`Service::copy_keys`]), with every shard locked: for a
    /// command whose keys cannot be known before it reads (SORT's BY and
    /// GET patterns).
    All(Fold),
    /// One named shard.
    Shard(usize),
    /// Transaction control, run by the runtime itself.
    Tx(TxOp),
    /// About connections (CLIENT LIST, INFO, KILL): the runtime gathers a
    /// [`ClientInfo`] of every connection on every shard (`all`), or of
    /// the caller only, and hands them to [`Service::exec_clients`].
    Clients { all: bool },
    /// Pub/sub, run by the runtime itself (it owns the subscriptions,
    /// which belong to connections; see the crate doc, "Pub/sub").
    PubSub(PubSubOp),
}

impl Route {
    /// The key arguments of a routed command, in argument order: those
    /// of [`Route::Keys`], none for any other route.
    pub fn keys<'a>(&self, args: Args<'a>) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (first, last, step, extra) = match *self {
            Route::Keys {
                first,
                last,
                step,
                extra,
                ..
            } => {
                let (f, l, s) = key_range(args.len(), first, last, step);
                (f, l, s, extra as usize)
            }
            _ => (1, 0, 1, 0),
        };
        let n = args.len();
        let range = (first..=last.min(n.saturating_sub(1)))
            .step_by(step)
            .filter(move |&i| first <= last && i < n);
        let extra = (extra != 0 && extra < n).then_some(extra);
        range.chain(extra).map(move |i| args.get(i))
    }
}

/// The pub/sub commands the runtime runs. The argument layout is Redis's:
/// the (un)subscribe commands take channels or patterns from argument 1,
/// PUBLISH and SPUBLISH take the channel and the message, and the PUBSUB
/// subcommands take their arguments from argument 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PubSubOp {
    Subscribe,
    Unsubscribe,
    PSubscribe,
    PUnsubscribe,
    SSubscribe,
    SUnsubscribe,
    Publish,
    SPublish,
    /// PUBSUB CHANNELS \[pattern\].
    Channels,
    /// PUBSUB NUMSUB [channel …].
    NumSub,
    /// PUBSUB NUMPAT.
    NumPat,
    /// PUBSUB SHARDCHANNELS \[pattern\].
    ShardChannels,
    /// PUBSUB SHARDNUMSUB [channel …].
    ShardNumSub,
}

/// What the runtime knows about one connection, for CLIENT LIST and
/// CLIENT KILL. Sizes are bytes.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub id: u64,
    /// CLIENT NO-EVICT ON (the `e` flag).
    pub no_evict: bool,
    /// CLIENT NO-TOUCH ON (the `T` flag).
    pub no_touch: bool,
    /// The shard whose reactor owns it.
    pub home: u32,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// Connected through the Unix socket (`peer` and `local` say nothing).
    pub unix: bool,
    pub fd: i32,
    /// From the session ([`Service::describe`]).
    pub name: Vec<u8>,
    pub lib_name: Vec<u8>,
    pub lib_ver: Vec<u8>,
    pub user: Vec<u8>,
    /// The last command run, by its table name.
    pub cmd: String,
    pub age_secs: u64,
    pub idle_secs: u64,
    pub db: u32,
    pub resp: u8,
    /// Commands queued in MULTI, or -1 outside MULTI.
    pub multi: i64,
    pub multi_mem: usize,
    pub monitor: bool,
    /// Channels, patterns and shard channels it is subscribed to.
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
    /// Received, not yet parsed; and the buffer's free space.
    pub qbuf: usize,
    pub qbuf_free: usize,
    /// Output not yet written (`obl`), replies waiting in order (`oll`), and
    /// all output memory the connection holds or is owed (`omem`).
    pub obl: usize,
    pub oll: usize,
    pub omem: usize,
    pub tot_mem: usize,
    /// epoll interest: "r", "w", "rw" or "".
    pub events: &'static str,
    /// The connection is the one asking.
    pub is_caller: bool,
    /// Blocked in a command that waits on keys (CLIENT LIST's `b` flag).
    pub blocked: bool,
    /// Held by CLIENT PAUSE: shown as blocked, but CLIENT UNBLOCK does not
    /// release it.
    pub paused: bool,
    /// Its client-side caching mode (CLIENT LIST's `t`, `R`, `B` flags),
    /// and where its invalidations go (`redir`; from the session).
    pub tracking: Tracking,
    pub redirect: u64,
}

/// What CLIENT LIST/KILL/UNBLOCK chose to do to other connections
/// ([`Service::exec_clients`]).
#[derive(Debug, Default)]
pub struct ClientsChosen {
    /// Connections to close (CLIENT KILL).
    pub kill: Vec<u64>,
    /// Blocked connections to release (CLIENT UNBLOCK).
    pub unblock: Vec<u64>,
    /// Every connection on every shard gets [`ClientCtx::checked`] set
    /// before the reply leaves, so that its next command is put to
    /// [`Service::admit`] (access rules changed).
    pub recheck: bool,
    /// UNBLOCK … ERROR: they answer `-UNBLOCKED`; else as a timeout would.
    pub unblock_error: bool,
}

/// The transaction-control commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxOp {
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
}

/// A command refused before it runs: Redis's error text, and the
/// transaction operation the command is, if any (a refused EXEC discards
/// the transaction).
#[derive(Clone, Debug)]
pub struct Refused {
    pub tx: Option<TxOp>,
    pub msg: Vec<u8>,
}

/// What a command does when it arrives between MULTI and EXEC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InMulti {
    /// Queued for EXEC (answered `+QUEUED`).
    Queue,
    /// Runs at once (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
    Run,
    /// Refused, and the transaction is aborted (Redis's `no-multi`).
    Reject,
}

/// What the connection does after a connection command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnAction {
    Continue,
    /// Flush the reply, then close (QUIT).
    Close,
    /// Drop the connection's MULTI state and WATCHes (RESET).
    Reset,
    /// The connection becomes a monitor (MONITOR): it receives a line for
    /// every command any connection runs.
    Monitor,
    /// CLIENT REPLY: whether the connection's replies are sent.
    Reply(ReplyMode),
    /// CLIENT PAUSE: hold every client's commands (`all`), or those that
    /// write, on every shard until `until_ms` (unix ms).
    Pause {
        until_ms: u64,
        all: bool,
    },
    /// CLIENT UNPAUSE.
    Unpause,
}

/// CLIENT REPLY's modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    /// No reply to anything until ON.
    Off,
    /// No reply to the next command.
    Skip,
}

/// Whether a key serves the blocked command at the head of its waiters
/// ([`Service::wakes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wakes {
    /// It holds what the command waits for.
    Yes,
    /// It holds nothing for the command, nor for a waiter of the same
    /// kind behind it (missing, or empty): the queue waits on.
    No,
    /// It holds another kind of value (a sorted set under a BLPOP): the
    /// command waits on, and the waiters behind it are looked at, as
    /// Redis skips a client blocked for another type.
    OtherKind,
}

/// What [`Service::connection_event`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnEvent {
    Accepted,
    IdleTimeout,
}

/// The per-connection facts a command needs wherever it runs. It is `Copy`
/// because a command that crosses cores carries it.
#[derive(Clone, Copy, Debug)]
pub struct ClientCtx {
    /// Unique for the server's lifetime (CLIENT ID).
    pub id: u64,
    /// Selected database.
    pub db: u32,
    /// The connection speaks RESP3 (HELLO 3).
    pub resp3: bool,
    /// The shard whose reactor owns the connection.
    pub home: u32,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// `unix_ms` when the connection was accepted.
    pub created_ms: u64,
    /// The connection has a subscription (Redis's `CLIENT_PUBSUB`): in
    /// RESP2 it may run only the commands Redis allows in that context.
    pub subscribed: bool,
    /// The connection came through the Unix socket (its `peer` and `local`
    /// are [`crate::reactor::UNIX_PEER`]).
    pub unix: bool,
    /// Client-side caching (CLIENT TRACKING): the key's shard decides from
    /// it whether a read is recorded, the home whom an invalidation goes to.
    pub tracking: Tracking,
    /// Every command of the connection is put to [`Service::admit`] before
    /// it runs (the service's access control: a client not yet
    /// authenticated, or a user with limited rights). Cleared, the
    /// connection's commands take the common path with no check at all.
    pub checked: bool,
    /// CLIENT NO-TOUCH ON: the connection's commands, TOUCH excepted,
    /// leave the keys' access clocks alone.
    pub no_touch: bool,
}

impl ClientCtx {
    /// A client of no connection, with no address: the server's own
    /// commands, a put-back, a script's placeholder. `id` 0 is the server
    /// itself (`Service::internal_command`).
    pub fn internal(id: u64, db: u32, home: u32) -> ClientCtx {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        ClientCtx {
            id,
            db,
            resp3: false,
            home,
            peer: unspecified,
            local: unspecified,
            created_ms: 0,
            subscribed: false,
            unix: false,
            tracking: Tracking::default(),
            checked: false,
            no_touch: false,
        }
    }
}

// ClientCtx travels with every command sent to another shard and sits in
// every connection's state: tracking's byte, `checked` and `no_touch` fit in
// what was padding.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<ClientCtx>() == 96);

/// A connection's client-side caching mode, as CLIENT TRACKING and
/// CLIENT CACHING set it (crate doc, "Client-side caching"). Zero:
/// tracking is off. One byte, which [`ClientCtx`] holds in what was
/// padding; where invalidations are redirected to is the session's
/// ([`Service::tracking_redirect`]), needed only at the connection's home.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tracking {
    /// [`Tracking::ON`] and the other bits.
    pub flags: u8,
}

impl Tracking {
    /// Tracking is on.
    pub const ON: u8 = 1;
    /// Broadcasting mode: invalidations by prefix, no reads recorded.
    pub const BCAST: u8 = 1 << 1;
    /// Reads are recorded only right after CLIENT CACHING YES.
    pub const OPTIN: u8 = 1 << 2;
    /// Reads are recorded except right after CLIENT CACHING NO.
    pub const OPTOUT: u8 = 1 << 3;
    /// No invalidations for keys this connection writes itself.
    pub const NOLOOP: u8 = 1 << 4;
    /// CLIENT CACHING was given for the next command (or MULTI block).
    pub const CACHING: u8 = 1 << 5;
    /// The redirect target is gone.
    pub const BROKEN: u8 = 1 << 6;

    #[inline]
    pub fn on(&self) -> bool {
        self.flags & Self::ON != 0
    }

    #[inline]
    pub fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    /// Whether a read this connection makes now is remembered, so that a
    /// later write of the key invalidates it: tracking in its default
    /// mode, subject to OPTIN/OPTOUT and CLIENT CACHING (Redis's
    /// `trackingRememberKeys`).
    #[inline]
    pub fn records_reads(&self) -> bool {
        let f = self.flags;
        if f & Self::ON == 0 || f & Self::BCAST != 0 {
            return false;
        }
        let caching = f & Self::CACHING != 0;
        if f & Self::OPTIN != 0 {
            caching
        } else if f & Self::OPTOUT != 0 {
            !caching
        } else {
            true
        }
    }
}

/// Redis's `client-output-buffer-limit` for the pub/sub class: a
/// subscriber whose pending output reaches `hard` bytes, or stays at or
/// above `soft` bytes for more than `soft_secs` seconds, is disconnected.
/// Zero disables a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: usize,
    pub soft: usize,
    pub soft_secs: u64,
}

impl OutputLimit {
    /// Redis's default: `pubsub 32mb 8mb 60`.
    pub const PUBSUB_DEFAULT: OutputLimit = OutputLimit {
        hard: 32 << 20,
        soft: 8 << 20,
        soft_secs: 60,
    };
}

/// Implemented by the server: commands, their routing, and a shard's state.
///
/// Every method runs on a reactor thread; `Shard` never leaves its thread.
pub trait Service: Send + Sync + Sized + 'static {
    /// One shard's state (its keyspace), created on its own thread.
    type Shard: 'static;
    /// Per-connection state beyond [`ClientCtx`] (name, MULTI queue, …).
    type Session: Default + Send + 'static;
    /// A resolved command, so routing looks the name up only once.
    type Cmd: Copy + Send + 'static;
    /// One key's full state in every database, for coordinated execution.
    type Snapshot: Send + 'static;

    fn new_shard(&self, id: usize, nshards: usize) -> Self::Shard;

    /// Which shard owns each hash slot, for a server of `nshards` shards:
    /// the service decides, since its files on disk hold each shard's keys
    /// in that layout. The runtime routes by this one map.
    fn slots(&self, nshards: usize) -> Arc<SlotMap> {
        SlotMap::new(nshards)
    }

    /// Resolves the command and where it runs. `Err` is the error reply's
    /// text, as bytes because Redis echoes argument bytes verbatim in some
    /// errors (unknown command, wrong number of arguments, …).
    fn route(
        &self,
        args: Args<'_>,
        client: &ClientCtx,
        nshards: usize,
    ) -> Result<(Self::Cmd, Route), Vec<u8>>;

    /// Admission at the connection's home shard, once a command is
    /// resolved and before it is routed or queued (`in_multi`): an error
    /// refuses it, as Redis's `processCommand` refuses a write over
    /// `maxmemory`. The default admits everything.
    #[inline(always)]
    fn admit_memory(
        &self,
        _shard: &mut Self::Shard,
        _cmd: Self::Cmd,
        _in_multi: bool,
    ) -> Option<&'static [u8]> {
        None
    }

    /// Admission of EXEC with its queued commands, checked as
    /// [`admit_memory`](Self::admit_memory) is; a refusal aborts the
    /// transaction.
    fn admit_exec(
        &self,
        _shard: &mut Self::Shard,
        _queued: &mut dyn Iterator<Item = Self::Cmd>,
    ) -> Option<&'static [u8]> {
        None
    }

    /// Resolves a command without routing it: the name, subcommand and
    /// arity only, as Redis checks a command it queues between MULTI and
    /// EXEC (a bad key argument is reported by EXEC, in place).
    fn resolve(&self, args: Args<'_>) -> Result<(Self::Cmd, InMulti), Refused>;

    /// Runs a keyed or whole-keyspace command on `shard`: the execution
    /// point (see `exec.rs`). The reply goes to `sink.out`, effects to
    /// `sink.effects`.
    fn exec(
        &self,
        shard: &mut Self::Shard,
        client: &ClientCtx,
        cmd: Self::Cmd,
        args: Args<'_>,
        sink: &mut Sink<'_>,
    );

    /// CLIENT LIST, INFO or KILL with the connections it asked about;
    /// returns the ids of the connections to close (CLIENT KILL).
    #[allow(clippy::too_many_arguments)]
    fn exec_clients(
        &self,
        shard: &mut Self::Shard,
        client: &mut ClientCtx,
        session: &mut Self::Session,
        cmd: Self::Cmd,
        args: Args<'_>,
        clients: &[ClientInfo],
        out: &mut Vec<u8>,
    ) -> ClientsChosen;

    /// Fills the session's part of a [`ClientInfo`] (name, library, user),
    /// and the name of command `last`.
    fn describe(&self, session: &Self::Session, last: Option<Self::Cmd>, info: &mut ClientInfo);

    /// Whether the command only reads its keys (it may then share them
    /// with other readers while a transaction holds them).
    fn reads_only(&self, cmd: Self::Cmd) -> bool;

    /// Whether a client's `cmd` over keys of several shards may take, as
    /// its own reply, the reply of the same command with the same
    /// arguments that another client sent in the same moment (crate doc,
    /// "Shared reads"): a read whose reply is a function of its keys and
    /// the protocol alone (MGET), while nothing a read does besides
    /// answering (a keyspace event on a miss) is in force. Asked only of
    /// commands whose keys span shards.
    fn shares(&self, _shard: &Self::Shard, _cmd: Self::Cmd) -> bool {
        false
    }
    /// Counts `calls` calls of `cmd` answered with a shared `reply` (their
    /// command statistics, keyspace hits and misses), as running each
    /// would have.
    fn shared(&self, _shard: &mut Self::Shard, _cmd: Self::Cmd, _reply: &[u8], _calls: u64) {}

    /// Whether MONITOR shows this command (Redis hides admin commands and
    /// those flagged `skip_monitor`).
    fn monitor_shows(&self, cmd: Self::Cmd) -> bool;

    /// The error a RESP2 connection with subscriptions gets for `cmd`, or
    /// `None` when Redis allows `cmd` there ((P|S)SUBSCRIBE,
    /// (P|S)UNSUBSCRIBE, PING, QUIT, RESET). Asked only for such
    /// connections.
    fn subscribed_refusal(&self, cmd: Self::Cmd, args: Args<'_>) -> Option<Vec<u8>>;

    /// The metrics endpoint's page (Prometheus text exposition format),
    /// composed on the shard that serves the endpoint.
    fn metrics(&self, _shard: &mut Self::Shard) -> Vec<u8> {
        Vec::new()
    }

    /// Whether a CLIENT PAUSE WRITE holds `cmd` run with `args` (Redis
    /// holds the commands that may write). Asked only during a pause.
    fn pause_holds(&self, _cmd: Self::Cmd, _args: Args<'_>) -> bool {
        false
    }

    /// Whether CLIENT CACHING's flag stays in force after command `args`
    /// ran: Redis keeps it through CLIENT itself (and MULTI's queue), and
    /// drops it after any other command. Asked only while it is set.
    fn keeps_caching(&self, _args: Args<'_>) -> bool {
        false
    }

    /// Where a tracking connection's invalidations go instead of to itself
    /// (CLIENT TRACKING … REDIRECT): the client id, 0 for none, and that
    /// client's home shard.
    fn tracking_redirect(&self, _session: &Self::Session) -> (u64, u32) {
        (0, 0)
    }

    /// Records that tracking client `client`, whose home is shard `home`,
    /// read `key`, one of this shard's keys, in a command run by copy on
    /// another shard (crate doc, "Client-side caching"). It arrives ahead
    /// of the transaction's unlock, so no write can come in between.
    fn track_read(&self, _shard: &mut Self::Shard, _client: u64, _home: u32, _key: &[u8]) {}

    /// Called once per loop iteration, before the messages the shard's
    /// commands made are delivered: the service adds what it gathers over
    /// an iteration (client-side caching's broadcast invalidations, one
    /// message per prefix and client, as Redis sends them before it
    /// sleeps).
    fn flush_pushes(&self, _shard: &mut Self::Shard, _effects: &mut Effects) {}

    /// The output limit of subscribers (asked once per loop iteration
    /// that delivers messages).
    fn pubsub_limit(&self) -> OutputLimit {
        OutputLimit::PUBSUB_DEFAULT
    }

    /// A connection was accepted: the service may set
    /// [`ClientCtx::checked`] and its session's state, or refuse the
    /// connection with an error line (written as is, then it is closed).
    fn opened(&self, _client: &mut ClientCtx, _session: &mut Self::Session) -> Result<(), Vec<u8>> {
        Ok(())
    }

    /// Whether a connection with [`ClientCtx::checked`] set may run `cmd`
    /// (already resolved: known, right arity; `in_multi`: to be queued
    /// between MULTI and EXEC); `Err` is the error reply. It may clear
    /// `checked` when the connection needs no more checks.
    fn admit(
        &self,
        _client: &mut ClientCtx,
        _session: &mut Self::Session,
        _cmd: Self::Cmd,
        _args: Args<'_>,
        _in_multi: bool,
    ) -> Result<(), Vec<u8>> {
        Ok(())
    }

    /// Whether a connection that [`Service::admit`] checks still has to
    /// authenticate: its requests are then held to Redis's smaller limits
    /// for unauthenticated clients.
    fn unauthenticated(&self, _session: &Self::Session) -> bool {
        false
    }

    /// A connection closed (its session is dropped after this).
    fn closed(&self, shard: &mut Self::Shard, client: &ClientCtx, session: &mut Self::Session);

    /// A connection was accepted, or is about to be closed for being idle
    /// (`timeout`): for the server's log. Called once per such event, off
    /// the command path.
    fn connection_event(&self, _event: ConnEvent, _client: &ClientCtx) {}

    /// A connection closed because its output broke its limit is being
    /// freed; `info` describes it with the output it held at that moment
    /// (Redis logs it as a warning).
    fn output_limit_closed(&self, _info: &ClientInfo) {}

    /// A command refused before it ran (unknown, wrong arity, a bad
    /// subcommand, a queue-time error in MULTI), with its error text: for
    /// statistics (rejected calls, error counts).
    fn refused(&self, shard: &mut Self::Shard, args: Args<'_>, msg: &[u8]);

    /// A command the runtime ran itself (MULTI, EXEC, DISCARD, WATCH,
    /// UNWATCH, pub/sub), with the error it answered, if any, and the
    /// cycle count ([`kevy_sys::clock::cycles`]) when it started on this
    /// shard.
    fn ran_in_runtime(
        &self,
        shard: &mut Self::Shard,
        cmd: Self::Cmd,
        error: Option<&[u8]>,
        started: u64,
    );

    /// Runs a [`Route::Conn`] command on the connection's home thread.
    fn exec_conn(
        &self,
        shard: &mut Self::Shard,
        client: &mut ClientCtx,
        session: &mut Self::Session,
        cmd: Self::Cmd,
        args: Args<'_>,
        out: &mut Vec<u8>,
    ) -> ConnAction;

    /// Called at the start of each loop iteration that runs commands (clock
    /// caching).
    fn begin_iteration(&self, shard: &mut Self::Shard);
    /// Called after an iteration's commands ran and before its replies
    /// leave, to the connections and in the batches to other shards: a
    /// log takes `effects` here and makes them as durable as its policy
    /// says before anything that depends on them is sent (and stats that
    /// INFO reads from other threads are published).
    fn end_iteration(&self, shard: &mut Self::Shard, effects: &mut Effects);
    /// Whether `cmd` may reach keys its route does not name (a script):
    /// it may write them, and may ask to run again over the whole keyspace
    /// ([`Sink::escalate`]). Asked only off the fast path: when it cannot
    /// run inline (its connection then reads nothing more until it
    /// answered) and when it ran while clients wait on keys of the shard
    /// (every waited key is looked at again); crate doc, "Scripts".
    fn reaches_undeclared(&self, _cmd: Self::Cmd) -> bool {
        false
    }
    /// Whether `cmd` may write keys of a database other than its client's
    /// (MOVE, COPY … DB, SWAPDB): when it ran while clients wait on keys
    /// of the shard, every waited key is looked at again, in every
    /// database. Asked only then.
    fn reaches_other_dbs(&self, _cmd: Self::Cmd) -> bool {
        false
    }
    /// Whether `cmd` is a blocking command (BLPOP, …): only those run with
    /// [`Sink::may_block`] (crate doc, "Blocking").
    fn blocking(&self, _cmd: Self::Cmd) -> bool {
        false
    }
    /// Whether `cmd` may run long (a script): while it runs, on its shard
    /// or by copy on a scratch shard, the reactor's other connections are lent to [`serve_while_busy`]
    /// (crate doc, "Busy scripts"). Asked for each command run on its
    /// shard: keep it to a load and a test.
    ///
    /// [`serve_while_busy`]: crate::serve_while_busy
    #[inline(always)]
    fn runs_long(&self, _cmd: Self::Cmd) -> bool {
        false
    }
    /// Whether hinting the lookups of database `db` on `shard` pays (its
    /// keyspace is bigger than the caches): the runtime looks ahead for
    /// keys to hint only then.
    #[inline(always)]
    fn worth_prefetching(&self, _shard: &Self::Shard, _db: usize) -> bool {
        false
    }
    /// A hint that `keys` of database `db` are about to be looked up on
    /// `shard`, one after another (a pipeline, a batch from a peer): start
    /// loading what their lookups read first, so that their cache misses
    /// overlap instead of coming one after another. At most the first 16
    /// are worth hinting. It leaves `marks` (returns how many), which
    /// [`Service::prefetch_values`] takes later, once those loads have
    /// arrived, to start the loads that read through them. It must change
    /// nothing.
    #[inline(always)]
    fn prefetch_nodes<'k>(
        &self,
        _shard: &Self::Shard,
        _db: usize,
        _keys: impl Iterator<Item = &'k [u8]>,
        _marks: &mut [u64; 16],
    ) -> usize {
        0
    }
    /// The second half of [`Service::prefetch_nodes`].
    #[inline(always)]
    fn prefetch_values(&self, _shard: &Self::Shard, _db: usize, _marks: &[u64]) {}
    /// Whether `cmd` is [`blocking`](Service::blocking) or
    /// [`runs_long`](Service::runs_long): the one test the hot path makes
    /// before running a command on its shard, so keep it to a load and a
    /// test (both flags at once).
    #[inline(always)]
    fn runs_apart(&self, cmd: Self::Cmd) -> bool {
        self.blocking(cmd) || self.runs_long(cmd)
    }
    /// A command of another connection, which [`Service::route`] let
    /// through ([`Route::Conn`]) while a script runs long on this thread:
    /// run it now with its reply in `out`, or answer `None` (writing
    /// nothing) to leave it, and the connection's later commands, until
    /// the script ends. `shard` is the one the script runs on (a scratch
    /// shard for a script run by copy). Only
    /// [`ConnAction::Continue`] and [`ConnAction::Close`] may be
    /// answered.
    fn exec_while_busy(
        &self,
        _shard: &mut Self::Shard,
        _client: &mut ClientCtx,
        _session: &mut Self::Session,
        _cmd: Self::Cmd,
        _args: Args<'_>,
        _out: &mut Vec<u8>,
    ) -> Option<ConnAction> {
        None
    }
    /// Whether the shard has work it does a bit per iteration (a
    /// snapshot being written): an idle shard then wakes every millisecond
    /// instead of sleeping until the next tick.
    fn background(&self, _shard: &Self::Shard) -> bool {
        false
    }
    /// Whether the shard has work of its own pending (loading its data at
    /// start-up): the loop then polls for events without waiting.
    fn busy(&self, _shard: &Self::Shard) -> bool {
        false
    }
    /// Whether the shards record effects (a log or a replica consumes
    /// them); asked once per shard at start-up.
    fn wants_effects(&self) -> bool {
        false
    }
    /// The shard's loop has ended (shutdown): the last effects are in
    /// `effects`.
    fn stopping(&self, _shard: &mut Self::Shard, _effects: &mut Effects) {}
    /// Called about every 100 ms (Redis's `hz 10`): active expiry and the like.
    /// Active expiry and the like; what it deletes goes to `effects`.
    fn tick(&self, shard: &mut Self::Shard, effects: &mut Effects);
    /// A command the server issues itself, asked after each tick (Redis's
    /// cron starting a BGSAVE for a save point). The runtime runs it as a
    /// client of no connection would be run, transaction and all, and drops
    /// its reply.
    fn internal_command(&self, _shard: &mut Self::Shard) -> Option<OwnedArgs> {
        None
    }
    /// What a SIGINT or SIGTERM runs (on shard 0, as `internal_command`s
    /// run): a command that stops the server itself in its own time, or
    /// `None` to stop at once.
    fn stop_command(&self, _shard: &mut Self::Shard) -> Option<OwnedArgs> {
        None
    }

    /// Gets ready to move the hash slots `slots` of this shard (crate doc,
    /// "Moving slots to the cores that have time"): one step of work,
    /// looking at about `budget` keys, while the shard serves as usual;
    /// true once [`Self::take_slots`] can take the slots' keys without
    /// looking further. Asked at each iteration of a move's shard until
    /// then, before the move freezes every shard. The default is ready at
    /// once.
    fn prepare_slots(&self, _shard: &mut Self::Shard, _slots: &SlotSet, _budget: usize) -> bool {
        true
    }
    /// The move [`Self::prepare_slots`] got ready for is called off.
    fn abandon_slots(&self, _shard: &mut Self::Shard) {}
    /// Whether the hash slots `slots` of this shard may move to another
    /// shard now (crate doc, "Moving slots to the cores that have time"):
    /// the service's conditions, on top of the runtime's (no client waits
    /// on one of their keys together with keys of other slots). False
    /// when a client WATCHes one of their keys, and whatever else the
    /// service keeps per key or in files would not follow the keys. The
    /// default never moves a slot.
    fn may_move_slots(&self, _shard: &Self::Shard, _slots: &SlotSet) -> bool {
        false
    }
    /// Takes every key of the hash slots `slots` out of the shard, in
    /// every database, with its state: slots moving to another shard,
    /// which [`Self::import`]s them. Asked only where
    /// [`Self::may_move_slots`] said yes. What readers of the keys are
    /// owed (client-side caching's invalidations) goes to `effects`.
    fn take_slots(
        &self,
        _shard: &mut Self::Shard,
        _effects: &mut Effects,
        _slots: &SlotSet,
    ) -> Vec<(Vec<u8>, Self::Snapshot)> {
        Vec::new()
    }
    /// How many keys the shard holds, in every database: what sizes a
    /// move of many slots at once (about as many keys in each slot). The
    /// default is 0 (slots then move a few at a time).
    fn key_count(&self, _shard: &Self::Shard) -> usize {
        0
    }
    /// Copies out `key`'s state in every database.
    fn export(&self, shard: &mut Self::Shard, key: &[u8]) -> Self::Snapshot;
    /// An empty shard that coordinated execution runs on.
    fn scratch(&self, home: usize, nshards: usize) -> Self::Shard;
    /// Empties a scratch shard a command ran on, so the next command run
    /// by copy reuses it instead of building one: it must then be as
    /// [`Self::scratch`] made it. False when it cannot be (it is dropped);
    /// the default never reuses.
    fn reset_scratch(&self, _scratch: &mut Self::Shard) -> bool {
        false
    }
    /// Puts an exported key into a scratch shard.
    fn load(&self, scratch: &mut Self::Shard, key: &[u8], snap: Self::Snapshot);
    /// The keys a scratch shard's commands wrote, with their final state.
    fn take_dirty(&self, scratch: &mut Self::Shard) -> Vec<(Vec<u8>, Self::Snapshot)>;
    /// The names of the keys a scratch shard's commands wrote since the
    /// last take, clearing the record: [`Self::take_dirty`] without the
    /// states, for a group that runs several commands on one scratch shard
    /// and exports each key once, after the last (crate doc, "Groups").
    fn take_written(&self, scratch: &mut Self::Shard) -> Vec<Vec<u8>> {
        self.take_dirty(scratch)
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }
    /// Replaces `key`'s state in every database with `snap` (the
    /// write-back of a command run by copy), recording the change in
    /// `effects` as the key's new state when `log` (otherwise the
    /// commands that made it are logged: [`Self::log_share`]).
    fn import(
        &self,
        shard: &mut Self::Shard,
        effects: &mut Effects,
        key: &[u8],
        snap: Self::Snapshot,
        log: bool,
    );
    /// Puts `key`, whose hash slot moved here, in the store with the
    /// state `snap` it had at its old owner (crate doc, "Moving slots to
    /// the cores that have time"): not a write (no event, nothing to
    /// log, nothing for connections that follow key prefixes). The
    /// default imports it as a write-back.
    fn import_moved(
        &self,
        shard: &mut Self::Shard,
        effects: &mut Effects,
        key: &[u8],
        snap: Self::Snapshot,
    ) {
        self.import(shard, effects, key, snap, false);
    }
    /// Records `share` in `effects`: the commands a command run by copy
    /// ran on this shard's keys, logged instead of the key states its
    /// write-backs (which follow, unlogged) bring (crate doc,
    /// "Durability").
    fn log_share(&self, _shard: &mut Self::Shard, effects: &mut Effects, share: &Share) {
        effects.emit_share(share);
    }
    /// Where an effect recorded on a scratch shard (`args`, a command as
    /// a log replays it) can be replayed on its own: the route whose keys
    /// are everything its replay reads and writes. `None` when its replay
    /// reaches more than named keys (the whole keyspace, keys found by
    /// reading) or the command is unknown; the runtime then logs the
    /// key states written back instead. The default says `None`.
    fn effect_route(&self, _args: Args<'_>) -> Option<Route> {
        None
    }
    /// The keys a [`Route::All`] command with [`Fold::One`] reads or
    /// writes, as far as the keys already loaded into `scratch` tell.
    /// Asked before the command runs by copy and again after each round
    /// of copies is loaded, until it names no key not yet copied. The
    /// default names none.
    fn copy_keys(
        &self,
        _scratch: &mut Self::Shard,
        _client: &ClientCtx,
        _cmd: Self::Cmd,
        _args: Args<'_>,
    ) -> Vec<Vec<u8>> {
        Vec::new()
    }
    /// Starts an attempt on `shard` that [`Self::end_attempt`] may take
    /// back: a MULTI/EXEC block with a script, run inline while a script
    /// may still reach another shard's key (crate doc, "Scripts inside
    /// MULTI"). Only asked when [`Self::reaches_undeclared`] is true for
    /// some command of the block.
    fn begin_attempt(&self, _shard: &mut Self::Shard) {}
    /// Ends the attempt [`Self::begin_attempt`] started; with `undo`,
    /// takes back every change it made to the keyspace (the runtime cuts
    /// the effects and messages back itself).
    fn end_attempt(&self, _shard: &mut Self::Shard, _undo: bool) {}
    /// Whether the command run by copy needs the name of every key of
    /// every shard as well (a script that reached KEYS, SCAN, DBSIZE,
    /// FLUSHALL, …), asked after each [`Self::copy_keys`]. True at most
    /// once per command: the runtime then loads every shard's
    /// [`Self::export_names`] into the scratch shard, with the next
    /// copies, before the next round.
    fn copy_names(&self, _scratch: &mut Self::Shard) -> bool {
        false
    }
    /// The name of every key of the shard with a stand-in of its state,
    /// for [`Self::load`] into a scratch shard (see [`Self::copy_names`]).
    fn export_names(&self, _shard: &mut Self::Shard) -> Vec<(Vec<u8>, Self::Snapshot)> {
        Vec::new()
    }

    /// The argument positions of the keys a blocking command waits on
    /// (BLPOP's keys, BLMOVE's source); asked when it blocks.
    fn wait_keys(&self, _cmd: Self::Cmd, _args: Args<'_>) -> std::ops::Range<usize> {
        0..0
    }
    /// The arguments a blocked command runs with when it is served, when
    /// they differ from those it was sent with: XREAD's `$` stands for the
    /// stream's last id at the moment it blocked, so the wait keeps that
    /// id. Asked once, when it parks on this shard.
    fn park_args(
        &self,
        _shard: &mut Self::Shard,
        _db: u32,
        _cmd: Self::Cmd,
        _args: Args<'_>,
    ) -> Option<OwnedArgs> {
        None
    }
    /// Whether `key` in database `db` now holds what blocked command `cmd`
    /// waits for (a list for BLPOP, a sorted set for BZPOPMIN), or a kind
    /// of value that some other blocked command may wait for.
    fn wakes(&self, _shard: &mut Self::Shard, _db: u32, _cmd: Self::Cmd, _key: &[u8]) -> Wakes {
        Wakes::No
    }
    /// Whether blocked command `cmd` may be served on its keys' shard for
    /// a client of another shard before that client's home has confirmed
    /// it still waits: what it takes can be put back from its reply
    /// ([`Self::put_back`]) when the client turns out to be gone. True for
    /// plain pops (BLPOP, BZPOPMIN, …); a move (BLMOVE) also writes its
    /// destination and is confirmed first (crate doc, "Blocking").
    fn serves_ahead(&self, _cmd: Self::Cmd) -> bool {
        false
    }
    /// The command that puts back what blocked command `cmd`, sent with
    /// `args`, took, given the `reply` it made (in either protocol): each
    /// element at the end it came from, in its order (LPUSH or RPUSH,
    /// ZADD NX). `None` when nothing needs putting back.
    fn put_back(&self, _cmd: Self::Cmd, _args: Args<'_>, _reply: &[u8]) -> Option<OwnedArgs> {
        None
    }
    /// What blocked command `cmd` answers when its wait ends with nothing
    /// (a timeout).
    fn timeout_reply(&self, _cmd: Self::Cmd, resp3: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }

    /// Registers `client`'s WATCH of `key` in database `db`. `client`
    /// names a watcher, not only a connection: the runtime passes the
    /// connection through the shard it sent from (`lock::owner`), so a
    /// connection that moved keeps its new watches apart from what its
    /// old home still drops.
    fn watch(&self, shard: &mut Self::Shard, client: u64, db: u32, key: &[u8]);
    /// Drops every WATCH of watcher `client` on `shard`.
    fn unwatch(&self, shard: &mut Self::Shard, client: u64);
    /// Whether a key watcher `client` watches on `shard` changed since
    /// its WATCH.
    fn watch_changed(&self, shard: &mut Self::Shard, client: u64) -> bool;
}

/// Resolves a key range against the argument count.
pub(crate) fn key_range(argc: usize, first: u32, last: i32, step: u32) -> (usize, usize, usize) {
    let last = if last < 0 {
        (argc as i64 + last as i64).max(-1)
    } else {
        last as i64
    };
    let step = step.max(1) as usize;
    if last < first as i64 {
        // No keys: an empty range.
        return (1, 0, step);
    }
    (first as usize, last as usize, step)
}
