//! The transaction coordinator: the state machine of every transaction
//! whose connection lives on this reactor (crate doc, "Transactions").
//!
//! A transaction is in one [`Phase`]; each entry point takes an event (the
//! transaction started, a shard's `Locked`, a command's reply, copies of
//! keys, a connection command's outcome) and moves it to its next phase,
//! writing what must reach other shards into their batches (any [`Wire`])
//! and what the reactor must do for the connection into [`Coordinator::out`].
//! It never touches the connection table or the rings itself; the home
//! shard's part of the work it hands to the home [`Executor`], as a peer
//! would by message.

use super::executor::{Executor, Wire};
use crate::conn::VecPool;
use crate::exec::TxTag;
use crate::fold::FanOut;
use crate::lock::{key_id, tx_id, Claim, TxId};
use crate::msg::Req;
use crate::service::{ClientCtx, Fold, PubSubOp, Route, Service};
use crate::slot::SlotMap;
use kevy_resp::{Args, OwnedArgs, Reply};
use std::collections::HashSet;
use std::sync::Arc;

/// What a subscription command answers inside a transaction (the service
/// refuses them at queue time, so only a table that says otherwise gets
/// here).
pub(super) const PUBSUB_IN_TX: &[u8] = b"-ERR Command not allowed inside a transaction\r\n";

/// Whether a pub/sub command may run inside a transaction: PUBLISH,
/// SPUBLISH and PUBSUB's questions (crate doc, "Pub/sub").
pub(super) fn pubsub_in_tx(op: PubSubOp) -> bool {
    !matches!(
        op,
        PubSubOp::Subscribe
            | PubSubOp::Unsubscribe
            | PubSubOp::PSubscribe
            | PubSubOp::PUnsubscribe
            | PubSubOp::SSubscribe
            | PubSubOp::SUnsubscribe
    )
}

#[cfg(test)]
mod tests;

/// Where a transaction is. The transitions:
///
/// - `Locking { next }` → `Locking { next + 1 }` when plan entry `next`'s
///   locks are held (inline for the home shard, by `Locked` for the
///   others); after the last entry → `Running { 0 }`, or straight to the
///   end of the steps when a WATCHed key changed or every command already
///   went with its lock request (early).
/// - `Running { pc }` sends step `pc` and moves on; a command run by copy
///   → `Copying`, a connection command → `AtConn`; past the last step the
///   unlocks go out → `Releasing`.
/// - `Copying { step, waiting }` → `Running { step + 1 }` once every copy
///   arrived, the command ran on a scratch shard (with its group's members
///   after it, crate doc "Groups") and the keys it wrote went
///   back to their owners (write-back), ahead of every later command. A
///   whole-keyspace command run by copy (SORT with BY/GET patterns) may
///   instead name keys not copied yet: `Copying` again, waiting for them.
/// - `AtConn { step }` → `Running { step + 1 }` when the reactor reports
///   the command's outcome on the connection.
/// - `Releasing` → done (removed, the answer in `out`) once every reply is
///   in; replies may arrive in any phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Locking { next: usize },
    Running { pc: usize },
    Copying { step: usize, waiting: usize },
    AtConn { step: usize },
    Releasing,
}

/// What the reactor must do for a transaction's connection, in order.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ToConn<S: Service> {
    /// Everything the transaction sends is on its way: the connection may
    /// read its next commands.
    Unblock { conn: u32, gen: u32 },
    /// Everything transaction `op`, which a command of the connection
    /// rides, sends is on its way: the connection's next command that
    /// could not ride it may run (crate doc, "Riders").
    RideSent { conn: u32, gen: u32, op: u32 },
    /// Run transaction `op`'s connection command ([`Coordinator::conn_cmd`])
    /// on the connection and report with [`Coordinator::conn_ran`].
    ConnCmd { op: u32 },
    /// A blocking command whose keys span shards found nothing: the
    /// connection waits for request `seq` on `owners` for up to `timeout`
    /// ms (it is parked there), and reads nothing more meanwhile. For a
    /// woken waiter served again, the wait it already has goes on.
    Wait {
        conn: u32,
        gen: u32,
        seq: u64,
        client: u64,
        owners: Vec<usize>,
        timeout: u64,
    },
    /// The command run by copy asked to run again over the whole keyspace
    /// (`Sink::escalate`): its locks are released, and the reactor starts
    /// the next of [`Coordinator::reruns`] as a new transaction.
    Rerun,
    /// The transaction is done: `reply` answers request `seq`. `blocks`:
    /// the connection waits for it to read on; `exec`: EXEC's WATCHes go.
    Answer {
        conn: u32,
        gen: u32,
        seq: u64,
        blocks: bool,
        exec: bool,
        reply: Vec<u8>,
    },
    /// A shared read's transaction is done: `reply` (its own) answers
    /// each of `sharers`, whose calls of `cmd` the service counts
    /// ([`Service::shared`]). `blocks`: they wait for it to read on, as
    /// its own connection does.
    Shared {
        sharers: Vec<Sharer>,
        blocks: bool,
        cmd: S::Cmd,
        reply: Vec<u8>,
    },
}

/// A transaction command's reply as it comes together.
enum Part {
    Wait,
    Fan(Box<FanOut>),
    Ready(Vec<u8>),
}

/// How a multi-key command splits over shards: per shard, the ordinals of
/// its keys, and each key's argument position.
struct Split {
    groups: Vec<(usize, Vec<u32>)>,
    keys_at: Vec<usize>,
}

impl Split {
    /// Adds the key at argument `k`, on shard `s`, to the group of its
    /// shard (a new one after the `used` groups so far, reusing a kept
    /// group's list when there is one).
    fn push_key(&mut self, used: &mut usize, s: usize, k: usize) {
        let ordinal = self.keys_at.len() as u32;
        match self.groups[..*used].iter_mut().find(|g| g.0 == s) {
            Some(g) => g.1.push(ordinal),
            None => {
                if *used == self.groups.len() {
                    self.groups.push((s, Vec::new()));
                }
                let g = &mut self.groups[*used];
                g.0 = s;
                g.1.clear();
                g.1.push(ordinal);
                *used += 1;
            }
        }
        self.keys_at.push(k);
    }

    /// Empties it for another command, keeping its buffers.
    fn clear(&mut self) {
        for g in &mut self.groups {
            g.1.clear();
        }
        self.keys_at.clear();
    }
}

/// How many finished transactions (and fan-outs, split plans, step lists
/// and argument buffers) the coordinator keeps for reuse at least. It
/// keeps up to as many as were in flight at once lately
/// ([`Coordinator::spare_cap`]): a burst of answers fills the spares, the
/// next burst of requests empties them, and with hundreds of pipelining
/// connections a fixed cap would free most of one burst and allocate the
/// next again.
const SPARE_TXS: usize = 512;
/// The longest list a kept transaction or fan-out keeps (parts, steps,
/// copies: one command's, or a short MULTI's), the most keys a kept split
/// plan or fan-out map holds, and the largest argument buffer kept. With
/// the counts above, what is kept stays bounded (a few megabytes per shard
/// at the very most, far less for the commands that fill it) whatever the
/// transactions were.
const SPARE_LEN: usize = 8;
const SPARE_KEYS: usize = 32;
const SPARE_ARGS: usize = 1024;

/// Keeps a fan-out whose reply is folded for the next split command.
// Spares stay boxed: a fan-out lives boxed in its part, and a kept one is
// reused box and all.
#[allow(clippy::vec_box)]
fn recycle_fan(spare: &mut Vec<Box<FanOut>>, cap: usize, pool: &mut VecPool, mut fo: Box<FanOut>) {
    fo.recycle_parts(pool);
    if spare.len() < cap
        && fo.parts.capacity() <= SPARE_LEN
        && fo.map.iter().map(Vec::capacity).sum::<usize>() <= SPARE_KEYS
    {
        spare.push(fo);
    }
}

/// One queued command with its route (or the error that replaces it).
pub(super) type Step<S> = (<S as Service>::Cmd, OwnedArgs, Result<Route, Vec<u8>>);

/// A transaction planned but not started: what `draft` found.
pub(super) enum Draft<S: Service> {
    /// Every key is on the home shard and free: the reactor runs the steps
    /// back to back (`watch`: check the WATCHes first). `publishes`: a
    /// step is PUBLISH or SPUBLISH, which runs inline only while no other
    /// shard has subscribers. `guarded`: a step is a script and there are
    /// several shards; the run is an attempt that is taken back whole when
    /// a script reaches another shard's key, and the block then runs as
    /// [`Coordinator::whole_exec`] plans it.
    Inline {
        steps: Vec<Step<S>>,
        watch: bool,
        publishes: bool,
        guarded: bool,
    },
    /// Locks to take: [`Coordinator::start`] runs it.
    Plan(Plan<S>),
}

pub(super) struct Plan<S: Service> {
    client: ClientCtx,
    exec: bool,
    steps: Vec<Step<S>>,
    locks: Vec<(usize, Claim)>,
    watch: bool,
    early: bool,
    woken: bool,
    /// The connection reads nothing more until the answer (false for a
    /// command run again after the connection read on).
    holds: bool,
    /// The split of its one command, planned with its locks
    /// ([`Coordinator::draft_split`]): `send_split` uses it as planned.
    split: Option<Split>,
}

impl<S: Service> Plan<S> {
    /// Whether it is one split command planned with its locks (what may
    /// ride, crate doc "Riders").
    pub fn is_split(&self) -> bool {
        self.split.is_some()
    }
}

/// A command to run again as a whole-keyspace transaction (`ToConn::Rerun`).
pub(super) struct Rerun<S: Service> {
    pub conn: u32,
    pub gen: u32,
    pub seq: u64,
    pub client: ClientCtx,
    pub cmd: S::Cmd,
    pub args: OwnedArgs,
    /// The connection waits for the answer before reading on.
    pub holds: bool,
}

/// A command that joined another transaction's group (crate doc,
/// "Groups"): it runs on the group's scratch shard after the leader and
/// the members before it, and is answered on its own connection.
struct Member<S: Service> {
    conn: u32,
    gen: u32,
    seq: u64,
    client: ClientCtx,
    cmd: S::Cmd,
    args: OwnedArgs,
    /// Its connection closed: it still runs, nobody is answered.
    gone: bool,
    /// It asked to run again over the whole keyspace: its writes were
    /// taken back, and it is started again once the group released.
    rerun: bool,
    reply: Vec<u8>,
}

/// A command riding a transaction (crate doc, "Riders"): command `i + 1`
/// of its transaction is `riders[i]`'s, answered to its own connection.
struct Rider {
    conn: u32,
    gen: u32,
    seq: u64,
    client: ClientCtx,
    /// Its connection closed: it still runs, nobody is answered.
    gone: bool,
}

/// A request that takes a shared read's reply as its own (crate doc,
/// "Shared reads").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Sharer {
    pub conn: u32,
    pub gen: u32,
    pub seq: u64,
}

/// The most riders a transaction takes.
const RIDERS_CAP: usize = 256;

/// The most members a group takes. A group that holds its locks while
/// members join runs them ahead of whatever waits for those locks: this
/// bounds how much work anything queued behind a group waits for (crate
/// doc, "Groups").
pub(super) const GROUP_CAP: usize = 64;

impl<S: Service> Plan<S> {
    /// The plan serves a blocked client that an owner of its keys woke
    /// (see [`Tx::woken`]).
    pub fn serving_woken(mut self) -> Self {
        self.woken = true;
        self
    }
}

/// A transaction this reactor coordinates.
struct Tx<S: Service> {
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
    phase: Phase,
    /// Ask each shard whether a WATCHed key changed.
    watch: bool,
    /// A WATCHed key changed: EXEC runs nothing and answers null.
    changed: bool,
    /// Each shard runs its commands as soon as its locks are held (see
    /// `draft`), instead of after every lock is held.
    early: bool,
    /// The plan entry whose shard unlocks by itself after its commands.
    self_unlocked: Option<usize>,
    /// Its home shard's locks are held out of shard order and the other
    /// shard was asked not to wait (`try_first`); its `Locked` or
    /// `Refused` is awaited.
    trying: bool,
    /// It tried that and was refused: it locks in shard order.
    tried: bool,
    /// Its one command runs by copy on keys it names (a script whose keys
    /// span shards): each other shard is asked for the copies right
    /// behind its lock request, instead of in a round trip of their own
    /// once every lock is held.
    copy_ahead: bool,
    /// Shards asked for copies so far that way, and copies arrived.
    copies_asked: usize,
    copies_in: usize,
    /// The connection reads nothing more until this transaction has sent
    /// everything (see the crate doc).
    blocks: bool,
    /// The connection closed: the transaction still runs to its end (its
    /// locks are released as usual), but nobody is answered.
    gone: bool,
    parts: Vec<Part>,
    /// Replies still to come from other shards.
    pending: usize,
    /// Copies gathered for the command run by copy.
    snaps: Vec<(Vec<u8>, S::Snapshot)>,
    /// The tag of the transaction's effects when they are logged: its
    /// shards then hold their locks until the decision (crate doc,
    /// "Durability").
    log: Option<TxTag>,
    /// A whole-keyspace command run by copy that names its keys as it
    /// reads them ([`Service::copy_keys`]). Boxed: a shard is large, and a
    /// transaction moves in and out of its slot at every event.
    discover: Option<Box<Discover<S>>>,
    /// Split plans of commands sent one shard at a time (early), by
    /// command: a transaction with riders has hundreds.
    splits: Vec<Option<Split>>,
    /// Its one command run by copy asked to run again over the whole
    /// keyspace: nothing was written back, and the answer is a
    /// [`ToConn::Rerun`].
    rerun: bool,
    /// A blocking command on its own whose keys span shards: finding
    /// nothing, it waits on the owners of the keys it waits on (crate doc,
    /// "Blocking").
    may_wait: bool,
    /// The shards owning the keys it waits on, when `may_wait`.
    owners: Vec<usize>,
    /// It serves a waiter that an owner woke (a move whose destination is
    /// on another shard): served, its owners drop the waiter; finding
    /// nothing after all, they keep it where it waits.
    woken: bool,
    /// It found nothing: its timeout. Its owners park it before they let
    /// go of its locks, and the connection waits instead of an answer.
    wait: Option<u64>,
    /// Other connections' commands may still join its group: it is run by
    /// copy alone, on its own keys, and has not run yet (it is in
    /// [`Coordinator::open`]).
    open: bool,
    /// The commands that joined its group, in arrival order.
    members: Vec<Member<S>>,
    /// The digest of its lock plan when it is one split command over
    /// shards (what riders must match), else 0.
    digest: u64,
    /// It waits for its first shard's locks and takes riders (it is in
    /// [`Coordinator::riding`]).
    ridable: bool,
    /// Commands riding it, in arrival order: command `i + 1` is
    /// `riders[i]`'s.
    riders: Vec<Rider>,
}

impl<S: Service> Tx<S> {
    /// An empty transaction, to be filled by `start`.
    fn blank(client: ClientCtx) -> Self {
        Tx {
            id: 0,
            conn: 0,
            gen: 0,
            seq: 0,
            client,
            exec: false,
            steps: Vec::new(),
            plan: Vec::new(),
            phase: Phase::Releasing,
            watch: false,
            changed: false,
            early: false,
            self_unlocked: None,
            trying: false,
            tried: false,
            copy_ahead: false,
            copies_asked: 0,
            copies_in: 0,
            blocks: false,
            gone: false,
            parts: Vec::new(),
            pending: 0,
            snaps: Vec::new(),
            log: None,
            discover: None,
            splits: Vec::new(),
            rerun: false,
            may_wait: false,
            owners: Vec::new(),
            woken: false,
            wait: None,
            open: false,
            members: Vec::new(),
            digest: 0,
            ridable: false,
            riders: Vec::new(),
        }
    }
}

impl<S: Service> Tx<S> {
    /// Makes a finished transaction, emptied by `recycle`, the start of
    /// `plan` as transaction `id` (request `seq` of connection
    /// `conn`/`gen`), in place: its buffers are kept, and every other
    /// field is set as [`Tx::blank`] has it (the pattern names every
    /// field, so a new one cannot be forgotten here).
    fn reset(&mut self, id: TxId, conn: u32, gen: u32, seq: u64, plan: Plan<S>) {
        let Tx {
            id: t_id,
            conn: t_conn,
            gen: t_gen,
            seq: t_seq,
            client,
            exec,
            steps,
            plan: t_plan,
            phase,
            watch,
            changed,
            early,
            self_unlocked,
            trying,
            tried,
            copy_ahead,
            copies_asked,
            copies_in,
            blocks,
            gone,
            parts,
            pending,
            snaps,
            log,
            discover,
            splits,
            rerun,
            may_wait,
            owners,
            woken,
            wait,
            open,
            members,
            digest,
            ridable,
            riders,
        } = self;
        *t_id = id;
        *t_conn = conn;
        *t_gen = gen;
        *t_seq = seq;
        *client = plan.client;
        *exec = plan.exec;
        *steps = plan.steps;
        *t_plan = plan.locks;
        *phase = Phase::Locking { next: 0 };
        *watch = plan.watch;
        *changed = false;
        *early = plan.early;
        *self_unlocked = None;
        *trying = false;
        *tried = false;
        *copy_ahead = false;
        *copies_asked = 0;
        *copies_in = 0;
        *blocks = true;
        *gone = false;
        parts.clear();
        parts.resize_with(steps.len(), || Part::Wait);
        *pending = 0;
        snaps.clear();
        *log = None;
        *discover = None;
        splits.clear();
        if let Some(split) = plan.split {
            splits.push(Some(split));
        }
        *rerun = false;
        *may_wait = false;
        owners.clear();
        *woken = plan.woken;
        *wait = None;
        *open = false;
        members.clear();
        *digest = 0;
        *ridable = false;
        riders.clear();
    }
}

/// The rounds of a command that names its keys as it reads them: the
/// scratch shard holding the copies loaded so far, and every key asked for.
struct Discover<S: Service> {
    scratch: Box<S::Shard>,
    asked: HashSet<Vec<u8>, ahash::RandomState>,
    /// Every shard's key names were asked for ([`Service::copy_names`]).
    names: bool,
}

pub(super) struct Coordinator<S: Service> {
    id: usize,
    n: usize,
    /// Which shard owns each hash slot.
    slots: Arc<SlotMap>,
    svc: Arc<S>,
    /// Transactions by slot (`op`), boxed: a transaction moves in and out
    /// of its slot at every event.
    txs: Vec<Option<Box<Tx<S>>>>,
    /// Finished transactions, emptied, whose boxes and buffers the next
    /// ones reuse (at most [`SPARE_TXS`]).
    #[allow(clippy::vec_box)] // reused box and all, as they live
    spare_txs: Vec<Box<Tx<S>>>,
    /// Emptied fan-outs and split plans for the next split commands (at
    /// most [`SPARE_TXS`] each).
    #[allow(clippy::vec_box)]
    spare_fans: Vec<Box<FanOut>>,
    spare_splits: Vec<Split>,
    /// Emptied step lists and argument buffers of finished transactions,
    /// for the next multi-key commands (at most [`SPARE_TXS`] each, each
    /// buffer at most [`SPARE_ARGS`] bytes).
    spare_steps: Vec<Vec<Step<S>>>,
    spare_args: Vec<OwnedArgs>,
    /// Emptied lock plans of finished transactions (as many, as short),
    /// and the one per-shard claim list a draft fills.
    spare_plans: Vec<Vec<(usize, Claim)>>,
    spare_claims: Vec<Claim>,
    free: Vec<u32>,
    /// Transactions whose next phase can run (all locks held, or the copies
    /// for a command run by copy arrived).
    runnable: Vec<u32>,
    /// What the reactor must do for connections, in order.
    pub out: Vec<ToConn<S>>,
    /// Buffers of answers, given back by the reactor.
    pub pool: VecPool,
    /// Scratch arguments of one part of a split command.
    part_args: OwnedArgs,
    seed: u64,
    /// Transactions whose effects were tagged so far (the tags' `seq`).
    logged: u64,
    /// Commands to run again, in the order of their `ToConn::Rerun`.
    pub reruns: std::collections::VecDeque<Rerun<S>>,
    /// The scratch shard of the last command run by copy, emptied for the
    /// next ([`Service::reset_scratch`]).
    spare_scratch: Option<Box<S::Shard>>,
    /// Transactions whose group other commands may join (`Tx::open`), in
    /// start order, each with the digest of its lock plan ([`plan_digest`]).
    open: Vec<(u64, u32)>,
    /// Commands that joined a group so far (tests look at it).
    #[cfg(test)]
    pub joined: usize,
    /// Transactions that take riders while they wait for their first
    /// shard's locks (`Tx::ridable`), each with its plan's digest.
    riding: Vec<(u64, u32)>,
    /// Shared reads in flight: each transaction with the requests that
    /// take its reply.
    shared: Vec<(u32, Vec<Sharer>)>,
    /// Commands that rode a transaction so far (tests look at it).
    #[cfg(test)]
    pub rode: usize,
    /// Per peer shard: how many transactions still lock in shard order
    /// before one tries out of order again, after a refusal there
    /// ([`TRY_BACKOFF`]).
    try_off: Vec<u32>,
    /// The most transactions in flight at once lately; [`Self::tick`]
    /// lets it fall back to what is in flight now.
    peak: usize,
    /// How many of each spare the coordinator keeps: `peak`, at least
    /// [`SPARE_TXS`]. What it keeps is thus never more than the workload
    /// itself held at its peak a moment ago.
    spare_cap: usize,
}

/// After a peer refused a transaction that tried its locks out of order
/// (its keys were taken), this many transactions lock in shard order
/// before the next tries: keys that are busy now are likely busy for a
/// while, and a refusal costs a round trip.
const TRY_BACKOFF: u32 = 64;

impl<S: Service> Coordinator<S> {
    pub fn new(id: usize, slots: Arc<SlotMap>, svc: Arc<S>, seed: u64) -> Self {
        let n = slots.shards();
        Coordinator {
            id,
            n,
            slots,
            svc,
            txs: Vec::new(),
            spare_txs: Vec::new(),
            spare_fans: Vec::new(),
            spare_splits: Vec::new(),
            spare_steps: Vec::new(),
            spare_args: Vec::new(),
            spare_plans: Vec::new(),
            spare_claims: Vec::new(),
            free: Vec::new(),
            runnable: Vec::new(),
            out: Vec::new(),
            pool: VecPool::default(),
            part_args: OwnedArgs::default(),
            seed,
            logged: 0,
            reruns: Default::default(),
            spare_scratch: None,
            try_off: vec![0; n],
            open: Vec::new(),
            #[cfg(test)]
            joined: 0,
            riding: Vec::new(),
            shared: Vec::new(),
            #[cfg(test)]
            rode: 0,
            peak: 0,
            spare_cap: SPARE_TXS,
        }
    }

    /// Called on the reactor's tick: the peak falls by a quarter towards
    /// what is in flight now, and the spares beyond the new cap are freed,
    /// so what one burst of connections left is given back within a
    /// second or two of its end.
    pub fn tick(&mut self) {
        let live = self.txs.len() - self.free.len();
        self.peak = live.max(self.peak - self.peak / 4);
        self.spare_cap = self.peak.max(SPARE_TXS);
        let cap = self.spare_cap;
        self.spare_txs.truncate(cap);
        self.spare_fans.truncate(cap);
        self.spare_splits.truncate(cap);
        self.spare_steps.truncate(cap);
        self.spare_args.truncate(cap);
        self.spare_plans.truncate(cap);
    }

    /// Whether some transaction's group may be joined now ([`Self::join`]
    /// finds none otherwise, and the plan need not go there and back).
    #[inline]
    pub fn has_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// Whether a transaction can advance ([`Self::next_runnable`]).
    #[cfg(test)]
    pub fn has_runnable(&self) -> bool {
        !self.runnable.is_empty()
    }

    /// Whether no transaction is in flight.
    pub fn is_idle(&self) -> bool {
        self.txs.iter().all(Option::is_none)
    }

    /// The phase of transaction `op`, if it is in flight.
    #[cfg(test)]
    pub fn phase(&self, op: u32) -> Option<Phase> {
        self.txs.get(op as usize)?.as_ref().map(|t| t.phase)
    }

    fn next_random(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    // ---- starting ----------------------------------------------------------

    /// Plans `cmds` to run atomically: EXEC's queue (`exec`, checking the
    /// connection's `watched` keys) or one multi-key command whose keys span
    /// shards. With `inline`, a plan whose keys are all on the home shard
    /// and free is to run inline (the fast path).
    pub fn draft(
        &mut self,
        ex: &mut Executor<S>,
        client: &ClientCtx,
        watched: &[(u32, Vec<u8>)],
        cmds: Vec<(S::Cmd, OwnedArgs)>,
        exec: bool,
        inline: bool,
    ) -> Draft<S> {
        let n = self.n;
        let steps: Vec<Step<S>> = cmds
            .into_iter()
            .map(|(cmd, args)| {
                // Inside a transaction CLIENT LIST/INFO/KILL run as
                // connection commands: they see the calling connection only.
                let route = self.svc.route(args.args(), client, n).map(|r| match r.1 {
                    Route::Clients { .. } => Route::Conn,
                    r => r,
                });
                (cmd, args, route)
            })
            .collect();
        self.draft_steps(ex, client, watched, steps, exec, inline)
    }

    /// [`Self::draft`] of one command the reactor routed already (a
    /// multi-key or whole-keyspace command on its own): its route is not
    /// looked up again, nor its keys' shards when routing kept them
    /// (`shards`: the shard of each key in `route`'s order).
    pub fn draft_routed(
        &mut self,
        ex: &mut Executor<S>,
        client: &ClientCtx,
        cmd: S::Cmd,
        route: Route,
        args: Args<'_>,
        shards: Option<&[u16]>,
    ) -> Draft<S> {
        // Buffers of a finished transaction, when there is one.
        let mut owned = self.spare_args.pop().unwrap_or_default();
        owned.clear();
        for a in args.iter() {
            owned.push(a);
        }
        let mut steps = self.spare_steps.pop().unwrap_or_default();
        if let Route::Keys {
            fold,
            first,
            last,
            step,
            extra: 0,
        } = route
        {
            if fold != Fold::One {
                let range = (first, last, step);
                return self.draft_split(ex, client, cmd, owned, steps, range, route, shards);
            }
        }
        steps.push((cmd, owned, Ok(route)));
        self.draft_steps(ex, client, &[], steps, false, true)
    }

    /// [`Self::draft_routed`] of a splittable multi-key command (MGET,
    /// MSET, DEL, EXISTS, …: a fold other than [`Fold::One`]) whose keys
    /// span shards, as the reactor found: an early transaction (its parts
    /// travel with their lock requests). One pass over its keys finds
    /// each key's shard once, for its lock claim and for the split that
    /// `send_split` uses as planned; `draft_steps` would find the same
    /// plan (it finds each key's shard again for the split, and once more
    /// to see that the transaction is early).
    #[allow(clippy::too_many_arguments)]
    fn draft_split(
        &mut self,
        ex: &mut Executor<S>,
        client: &ClientCtx,
        cmd: S::Cmd,
        owned: OwnedArgs,
        mut steps: Vec<Step<S>>,
        (first, last, step): (u32, i32, u32),
        route: Route,
        shards: Option<&[u16]>,
    ) -> Draft<S> {
        let n = self.n;
        let read = self.svc.reads_only(cmd);
        let args = owned.args();
        let (first, last, step) = crate::service::key_range(args.len(), first, last, step);
        let mut claims = std::mem::take(&mut self.spare_claims);
        let via = self.id as u32;
        claims.extend((0..n).map(|_| Claim {
            client: client.id,
            via,
            read,
            keys: ex.locks.keys_vec(),
            ..Claim::default()
        }));
        let mut split = self.spare_splits.pop().unwrap_or_else(|| Split {
            groups: Vec::with_capacity(2),
            keys_at: Vec::new(),
        });
        let mut used = 0;
        let mut k = first;
        let mut j = 0;
        while k <= last && k < args.len() {
            let key = args.get(k);
            let s = match shards {
                Some(sh) => usize::from(sh[j]),
                None => self.slots.shard_of(key),
            };
            debug_assert_eq!(s, self.slots.shard_of(key), "routing's shard of key {j}");
            j += 1;
            claims[s].keys.push(key_id(key));
            split.push_key(&mut used, s, k);
            k += step;
        }
        split.groups.truncate(used);
        if used < 2 {
            // One shard after all (the reactor sends only keys that span
            // here): the general plan, which may run it inline.
            for c in claims.drain(..) {
                ex.locks.recycle(c.keys);
            }
            self.spare_claims = claims;
            self.keep_split(split);
            steps.push((cmd, owned, Ok(route)));
            return self.draft_steps(ex, client, &[], steps, false, true);
        }
        let mut locks = self.spare_plans.pop().unwrap_or_default();
        for (s, mut c) in claims.drain(..).enumerate() {
            if involved(&c) {
                c.keys.sort_unstable();
                c.keys.dedup();
                locks.push((s, c));
            } else {
                ex.locks.recycle(c.keys);
            }
        }
        self.spare_claims = claims;
        steps.push((cmd, owned, Ok(route)));
        Draft::Plan(Plan {
            client: *client,
            exec: false,
            steps,
            locks,
            watch: false,
            early: true,
            woken: false,
            holds: true,
            split: Some(split),
        })
    }

    fn draft_steps(
        &mut self,
        ex: &mut Executor<S>,
        client: &ClientCtx,
        watched: &[(u32, Vec<u8>)],
        steps: Vec<Step<S>>,
        exec: bool,
        inline: bool,
    ) -> Draft<S> {
        let n = self.n;
        let mut claims = std::mem::take(&mut self.spare_claims);
        let via = self.id as u32;
        claims.extend((0..n).map(|_| Claim {
            client: client.id,
            via,
            read: true,
            keys: ex.locks.keys_vec(),
            ..Claim::default()
        }));
        for (cmd, args, route) in &steps {
            match route {
                Ok(r @ Route::Keys { .. }) => {
                    let read = self.svc.reads_only(*cmd);
                    for k in r.keys(args.args()) {
                        let s = self.slots.shard_of(k);
                        claims[s].keys.push(key_id(k));
                        claims[s].read &= read;
                    }
                }
                Ok(Route::All(_)) => {
                    for c in &mut claims {
                        c.whole = true;
                    }
                }
                Ok(Route::Shard(s)) => {
                    claims[s % n].whole = true;
                }
                _ => {}
            }
        }
        let watch = exec && !watched.is_empty();
        if watch {
            for (_, k) in watched {
                let s = self.slots.shard_of(k);
                claims[s].keys.push(key_id(k));
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
            && claims.iter().any(involved)
            && steps.iter().all(|(_, args, route)| match route {
                Err(_) | Ok(Route::Tx(_)) | Ok(Route::Shard(_)) => true,
                Ok(Route::All(fold)) => *fold != Fold::One,
                Ok(Route::Conn) | Ok(Route::Clients { .. }) | Ok(Route::PubSub(_)) => false,
                Ok(r @ Route::Keys { fold, .. }) => {
                    let mut shards = r.keys(args.args()).map(|k| self.slots.shard_of(k));
                    match shards.next() {
                        None => false,
                        Some(first) => *fold != Fold::One || shards.all(|s| s == first),
                    }
                }
            });
        let home_only = claims
            .iter()
            .enumerate()
            .all(|(s, c)| !involved(c) || s == self.id);
        // A script in EXEC may reach any key of any shard (crate doc,
        // "Scripts inside MULTI").
        let scripts = exec
            && n > 1
            && steps
                .iter()
                .any(|(cmd, _, r)| r.is_ok() && self.svc.reaches_undeclared(*cmd));
        if inline && home_only && (!ex.locks.active() || ex.locks.may_go(&claims[self.id])) {
            // An attempt can be taken back only while the block changes
            // nothing but keys, and is worth trying only when no WATCH
            // must be checked again after it.
            let undoable = steps.iter().all(|(_, _, r)| {
                matches!(
                    r,
                    Err(_) | Ok(Route::Keys { .. } | Route::Tx(_) | Route::Shard(_))
                )
            });
            if !scripts || (undoable && !watch) {
                // The fast path: nothing else can run on this reactor
                // meanwhile.
                let publishes = steps.iter().any(|(_, _, r)| {
                    matches!(r, Ok(Route::PubSub(PubSubOp::Publish | PubSubOp::SPublish)))
                });
                for c in claims.drain(..) {
                    ex.locks.recycle(c.keys);
                }
                self.spare_claims = claims;
                return Draft::Inline {
                    steps,
                    watch,
                    publishes,
                    guarded: scripts,
                };
            }
        }
        if scripts {
            for c in claims.drain(..) {
                ex.locks.recycle(c.keys);
            }
            self.spare_claims = claims;
            return Draft::Plan(self.whole_exec(client, steps, watch));
        }
        let mut locks = self.spare_plans.pop().unwrap_or_default();
        for (s, c) in claims.drain(..).enumerate() {
            if involved(&c) {
                locks.push((s, c));
            } else {
                ex.locks.recycle(c.keys);
            }
        }
        self.spare_claims = claims;
        Draft::Plan(Plan {
            client: *client,
            exec,
            steps,
            locks,
            watch,
            early,
            woken: false,
            holds: true,
            split: None,
        })
    }

    /// Plans `cmd` as a whole-keyspace transaction by copy ([`Route::All`]
    /// with [`Fold::One`]): every shard locked whole, shared when it only
    /// reads. A command that reached keys its first run could not runs so
    /// (`Sink::escalate`; crate doc, "Scripts"). `holds`: the connection
    /// reads nothing more until the answer.
    pub fn escalated(
        &self,
        client: &ClientCtx,
        cmd: S::Cmd,
        args: OwnedArgs,
        holds: bool,
    ) -> Plan<S> {
        let locks = self.whole_locks(client, self.svc.reads_only(cmd));
        Plan {
            client: *client,
            exec: false,
            steps: vec![(cmd, args, Ok(Route::All(Fold::One)))],
            locks,
            watch: false,
            early: false,
            woken: false,
            holds,
            split: None,
        }
    }

    /// Every shard locked whole for `client`, shared when it only reads.
    fn whole_locks(&self, client: &ClientCtx, read: bool) -> Vec<(usize, Claim)> {
        (0..self.n)
            .map(|s| {
                let claim = Claim {
                    client: client.id,
                    via: self.id as u32,
                    whole: true,
                    read,
                    ..Claim::default()
                };
                (s, claim)
            })
            .collect()
    }

    /// Plans an EXEC block with a script as a whole-keyspace transaction:
    /// every shard locked whole in shard order (shared when every command
    /// only reads), the commands sent in their turn as usual, and each
    /// script run by copy over the whole keyspace in rounds
    /// ([`Route::All`] with [`Fold::One`], as a script that escalated), so
    /// that it may reach any key and the block stays one atomic step.
    pub fn whole_exec(&self, client: &ClientCtx, mut steps: Vec<Step<S>>, watch: bool) -> Plan<S> {
        let read = steps.iter().all(|(cmd, _, _)| self.svc.reads_only(*cmd));
        for (cmd, _, route) in &mut steps {
            if route.is_ok() && self.svc.reaches_undeclared(*cmd) {
                *route = Ok(Route::All(Fold::One));
            }
        }
        let locks = self.whole_locks(client, read);
        Plan {
            client: *client,
            exec: true,
            steps,
            locks,
            watch,
            early: false,
            woken: false,
            holds: true,
            split: None,
        }
    }

    /// Starts a planned transaction for request `seq` of connection
    /// `conn`/`gen`: asks for its first locks. Returns the transaction's
    /// slot and whether the connection must wait before reading on.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        plan: Plan<S>,
        conn: u32,
        gen: u32,
        seq: u64,
    ) -> (u32, bool) {
        let op = match self.free.pop() {
            Some(op) => op,
            None => {
                self.txs.push(None);
                (self.txs.len() - 1) as u32
            }
        };
        let live = self.txs.len() - self.free.len();
        if live > self.peak {
            self.peak = live;
            self.spare_cap = live.max(SPARE_TXS);
        }
        let mut tx = self
            .spare_txs
            .pop()
            .unwrap_or_else(|| Box::new(Tx::blank(plan.client)));
        let holds = plan.holds;
        tx.reset(tx_id(self.id, op), conn, gen, seq, plan);
        if ridable_plan(&tx) {
            tx.digest = plan_digest(&tx.plan);
        }
        if !tx.exec && tx.steps.len() == 1 {
            tx.owners = self.wait_owners(&tx.steps[0]);
            tx.may_wait = !tx.owners.is_empty();
            // Keys on several shards, run by copy: its plan names them.
            tx.copy_ahead = !tx.watch
                && tx.plan.len() > 1
                && matches!(
                    tx.steps[0].2,
                    Ok(Route::Keys {
                        fold: Fold::One,
                        ..
                    })
                );
            // Commands on the same keys may join it until it runs.
            if tx.copy_ahead && !tx.may_wait && !tx.woken {
                tx.open = true;
                self.open.push((plan_digest(&tx.plan), op));
            }
        }
        if ex.effects.enabled()
            && tx.plan.len() > 1
            && tx.steps.iter().any(|s| !self.svc.reads_only(s.0))
        {
            self.logged += 1;
            tx.log = Some(TxTag {
                coord: self.id as u32,
                seq: self.logged,
            });
        }
        self.lock_next(ex, wire, op, &mut tx);
        if !holds || all_sent(&tx, self.id) {
            tx.blocks = false;
        }
        let blocks = tx.blocks;
        self.txs[op as usize] = Some(tx);
        (op, blocks)
    }

    /// `sharers` take the reply of shared read `op`, just started. Its
    /// keys span shards, so it waits for another shard's answer: it
    /// cannot have finished inside [`Self::start`].
    pub fn add_sharers(&mut self, op: u32, sharers: Vec<Sharer>) {
        debug_assert!(self.txs.get(op as usize).is_some_and(Option::is_some));
        self.shared.push((op, sharers));
    }

    /// Whether some transaction takes riders now.
    pub fn can_ride(&self) -> bool {
        !self.riding.is_empty()
    }

    /// The digest of transaction `op`'s key plan, when it is one split
    /// command over shards: what a connection's
    /// [`Chain`](crate::conn::Chain) records.
    pub fn chain_entry(&self, op: u32) -> Option<u64> {
        let tx = self.txs.get(op as usize)?.as_deref()?;
        (tx.digest != 0).then_some(tx.digest)
    }

    /// Rides `plan`, request `seq` of connection `conn`/`gen` (owed
    /// replies from `done` on, `chain` its run of split commands), on a
    /// transaction of this coordinator that waits for its first shard's
    /// locks (crate doc, "Riders"): the plan is one split command on the same
    /// keys per shard, locking them no more strongly, and the connection
    /// owes no reply the ridden transaction may overtake. Returns the
    /// ridden transaction's slot (until that transaction's requests are on
    /// their way, the connection runs only the same command on the same
    /// keys: `ToConn::RideSent`, and `ride_key` is what they must match).
    /// The plan back when it cannot ride; the ride key is written only
    /// when it does, so a split command that finds nothing to ride pays
    /// nothing for it.
    #[allow(clippy::result_large_err, clippy::too_many_arguments)]
    pub fn ride(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        plan: Plan<S>,
        (conn, gen, seq): (u32, u32, u64),
        done: u64,
        chain: &mut Option<crate::conn::Chain>,
        ride_key_out: &mut Vec<u8>,
    ) -> Result<u32, Plan<S>> {
        if self.riding.is_empty()
            || plan.split.is_none()
            || !plan.early
            || plan.exec
            || plan.watch
            || plan.woken
            || !plan.holds
            || plan.steps.len() != 1
            || plan.locks.len() < 2
        {
            return Err(plan);
        }
        let digest = plan_digest(&plan.locks);
        let (cmd, ref args, ref route) = plan.steps[0];
        let Ok(route) = route else {
            return Err(plan);
        };
        let read = self.svc.reads_only(cmd);
        let home = self.id as u32;
        let rides = |&(d, op): &(u64, u32)| {
            self.covers(op, (d, digest), read, route, args.args())
                .is_some_and(|tx| {
                    tx.ridable
                        && tx.riders.len() < RIDERS_CAP
                        && crate::conn::Chain::lets_ride(chain, home, digest, seq, done)
                })
        };
        let Some(op) = self.riding.iter().find(|e| rides(e)).map(|&(_, op)| op) else {
            return Err(plan);
        };
        let Some(mut tx) = self.txs.get_mut(op as usize).and_then(Option::take) else {
            return Err(plan);
        };
        ride_key(args.args(), route, ride_key_out);
        let Plan {
            client,
            mut steps,
            locks,
            split,
            ..
        } = plan;
        self.drop_locks(ex, locks);
        if let Some(sp) = split {
            self.keep_split(sp);
        }
        #[cfg(test)]
        {
            self.rode += 1;
        }
        tx.steps.append(&mut steps);
        tx.parts.push(Part::Wait);
        tx.riders.push(Rider {
            conn,
            gen,
            seq,
            client,
            gone: false,
        });
        let first = tx.plan[0].0;
        if first != self.id {
            // Its first shard has the commands so far: this one's part
            // there goes behind them now.
            let i = tx.steps.len() - 1;
            self.send_step(ex, wire, op, &mut tx, i, Some(first));
        }
        crate::conn::Chain::extend(chain, home, digest, seq);
        self.txs[op as usize] = Some(tx);
        if self.spare_steps.len() < self.spare_cap && steps.capacity() <= SPARE_LEN {
            self.spare_steps.push(steps);
        }
        Ok(op)
    }

    /// Transaction `op`, when its lock plan's digest (`digests.0`) is the
    /// newcomer's (`digests.1`), every key of the newcomer (`route` of
    /// `args`) is one of its command's, and it locks them at least as
    /// strongly (`read`: the newcomer only reads): what joining its group
    /// or riding it needs.
    fn covers(
        &self,
        op: u32,
        (d, digest): (u64, u64),
        read: bool,
        route: &Route,
        args: Args<'_>,
    ) -> Option<&Tx<S>> {
        if d != digest {
            return None;
        }
        let tx = self.txs.get(op as usize).and_then(Option::as_deref)?;
        let (lcmd, ref largs, ref lroute) = tx.steps[0];
        let lroute = lroute.as_ref().ok()?;
        let covered = (read || !self.svc.reads_only(lcmd))
            && route
                .keys(args)
                .all(|k| lroute.keys(largs.args()).any(|l| l == k));
        covered.then_some(tx)
    }

    /// Gives back the locks of a plan that will not be started.
    fn drop_locks(&mut self, ex: &mut Executor<S>, mut locks: Vec<(usize, Claim)>) {
        for (_, c) in locks.drain(..) {
            ex.locks.recycle(c.keys);
        }
        if self.spare_plans.len() < self.spare_cap && locks.capacity() <= SPARE_LEN {
            self.spare_plans.push(locks);
        }
    }

    /// Takes transaction `op` out of the ridable ones: its first shard's
    /// locks are held (or it ended), and it runs with the riders it has.
    fn stop_riding(&mut self, op: u32, tx: &mut Tx<S>) {
        tx.ridable = false;
        if let Some(at) = self.riding.iter().position(|&(_, o)| o == op) {
            self.riding.swap_remove(at);
        }
    }

    /// Joins `plan`, request `seq` of connection `conn`/`gen`, to the
    /// group of an open transaction of this coordinator instead of
    /// starting one (crate doc, "Groups"): the plan is one command run by
    /// copy on the same keys per shard as the open transaction, which
    /// locks them at least as strongly, and it is another connection's.
    /// The caller makes sure the connection is owed no earlier reply.
    /// Returns the group's slot; the connection waits for the answer
    /// before it reads on. The plan back when it cannot join.
    // The plan goes back by value, as it came: no allocation on either way.
    #[allow(clippy::result_large_err)]
    pub fn join(
        &mut self,
        ex: &mut Executor<S>,
        plan: Plan<S>,
        conn: u32,
        gen: u32,
        seq: u64,
    ) -> Result<u32, Plan<S>> {
        if self.open.is_empty()
            || plan.exec
            || plan.watch
            || plan.woken
            || !plan.holds
            || plan.steps.len() != 1
            || plan.locks.len() < 2
        {
            return Err(plan);
        }
        let (cmd, ref args, ref route) = plan.steps[0];
        let route = match route {
            Ok(
                r @ Route::Keys {
                    fold: Fold::One, ..
                },
            ) if !self.svc.blocking(cmd) => *r,
            _ => return Err(plan),
        };
        let read = self.svc.reads_only(cmd);
        let client = plan.client.id;
        // The same keys per shard make the same digest: only those are
        // compared key by key.
        let digest = plan_digest(&plan.locks);
        let joinable = |&(d, op): &(u64, u32)| {
            self.covers(op, (d, digest), read, &route, args.args())
                .is_some_and(|tx| {
                    tx.members.len() < GROUP_CAP
                        && (tx.conn, tx.gen) != (conn, gen)
                        && tx.client.id != client
                })
        };
        let found = self.open.iter().find(|e| joinable(e)).map(|&(_, op)| op);
        let Some(op) = found else {
            return Err(plan);
        };
        let mut plan = plan;
        let Some((cmd, args, _)) = plan.steps.pop() else {
            return Err(plan);
        };
        let Plan {
            client,
            steps,
            locks,
            ..
        } = plan;
        self.drop_locks(ex, locks);
        if self.spare_steps.len() < self.spare_cap && steps.capacity() <= SPARE_LEN {
            self.spare_steps.push(steps);
        }
        let reply = self.pool.get();
        #[cfg(test)]
        {
            self.joined += 1;
        }
        if let Some(tx) = self.txs[op as usize].as_deref_mut() {
            tx.members.push(Member {
                conn,
                gen,
                seq,
                client,
                cmd,
                args,
                gone: false,
                rerun: false,
                reply,
            });
        }
        Ok(op)
    }

    /// The group of transaction `op` takes no more members: it is about
    /// to run.
    fn close_group(&mut self, op: u32, tx: &mut Tx<S>) {
        if tx.open {
            tx.open = false;
            if let Some(i) = self.open.iter().position(|&(_, o)| o == op) {
                self.open.remove(i);
            }
        }
    }

    /// The shards owning the keys `step` waits on when it is a blocking
    /// command (BLPOP's keys, BLMOVE's source); none for any other.
    fn wait_owners(&self, step: &Step<S>) -> Vec<usize> {
        let (cmd, args, route) = step;
        if !self.svc.blocking(*cmd) || route.is_err() {
            return Vec::new();
        }
        let args = args.args();
        let mut owners: Vec<usize> = self
            .svc
            .wait_keys(*cmd, args)
            .filter(|&i| i < args.len())
            .map(|i| self.slots.shard_of(args.get(i)))
            .collect();
        owners.sort_unstable();
        owners.dedup();
        owners
    }

    // ---- the lock phase ----------------------------------------------------

    /// Requests the next locks of the plan: the home shard's inline, the
    /// others by message; one shard at a time, in shard order. An early
    /// transaction's commands for a shard go with its lock request (and the
    /// last shard unlocks itself behind them).
    fn lock_next(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        tx: &mut Tx<S>,
    ) {
        if tx.phase == (Phase::Locking { next: 0 }) && self.try_first(ex, wire, op, tx) {
            return;
        }
        loop {
            let Phase::Locking { next } = tx.phase else {
                return;
            };
            if next == tx.plan.len() {
                tx.phase = Phase::Running {
                    pc: if tx.changed || tx.early {
                        // A watched key changed: run nothing. Early: all
                        // sent already.
                        tx.steps.len()
                    } else {
                        0
                    },
                };
                self.runnable.push(op);
                return;
            }
            let last = next + 1 == tx.plan.len();
            let (s, claim) = {
                let e = &mut tx.plan[next];
                (e.0, std::mem::take(&mut e.1))
            };
            if s == self.id {
                // The last shard of an early transaction runs its commands
                // right now, back to back, and lets go: nothing can run in
                // between, so it needs no entry in the lock table.
                let hold = !(tx.early && last) || tx.log.is_some();
                let Some(changed) = ex.lock_home(op, claim, tx.watch, hold) else {
                    if next == 0 && tx.digest != 0 {
                        // Waiting, it has sent nothing: it takes riders.
                        tx.ridable = true;
                        self.riding.push((tx.digest, op));
                    }
                    return;
                };
                tx.changed |= changed;
                self.locks_held(ex, wire, op, tx);
                continue;
            }
            let b = wire.batch(s);
            let first = b.lock_keys.len() as u32;
            b.lock_keys.extend_from_slice(&claim.keys);
            let n = claim.keys.len() as u32;
            let (client, whole, read) = (claim.client, claim.whole, claim.read);
            ex.locks.recycle(claim.keys);
            let b = wire.batch(s);
            b.reqs.push(Req::Lock {
                op,
                client,
                whole,
                read,
                watch: tx.watch,
                last: tx.early && last && tx.log.is_none(),
                no_wait: false,
                log: tx.log.map_or(0, |t| t.seq),
                first,
                n,
            });
            if tx.copy_ahead {
                let (_, ref args, ref route) = tx.steps[0];
                if let Ok(route) = route {
                    let mut keys: Vec<&[u8]> = route
                        .keys(args.args())
                        .filter(|k| self.slots.shard_of(k) == s)
                        .collect();
                    keys.sort_unstable();
                    keys.dedup();
                    let b = wire.batch(s);
                    let (first, n) = b.push_args(keys.into_iter());
                    b.reqs.push(Req::Export { op, first, n });
                    tx.copies_asked += 1;
                }
            }
            if tx.early {
                self.send_steps_on(ex, wire, op, tx, s);
                if last && tx.log.is_none() {
                    wire.batch(s).reqs.push(Req::Unlock { op });
                    tx.self_unlocked = Some(next);
                }
            }
            if next == 0 && !last && tx.digest != 0 {
                // Its first shard holds its commands until its locks are
                // granted, and then until its unlock: commands that ride
                // it meanwhile go there behind it.
                tx.ridable = true;
                self.riding.push((tx.digest, op));
            }
            return;
        }
    }

    /// An early transaction on the home shard and one shard below it,
    /// whose home keys are free: instead of a round trip for the lower
    /// shard's locks and an unlock after, it takes the home shard's locks
    /// first and sends the other shard its lock request with its commands
    /// and its unlock, as the last shard of the plan, marked not to wait.
    /// Granted, that shard runs them at once and lets go, and the home
    /// shard's commands run when its `Locked` arrives; refused (its keys
    /// are taken), nothing ran anywhere, the home locks are let go and
    /// the transaction locks in shard order (`refused`). Holding the home
    /// locks out of order cannot deadlock, since the request that could
    /// close a cycle does not wait (crate doc, "Transactions"). True when
    /// it tried.
    fn try_first(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        tx: &mut Tx<S>,
    ) -> bool {
        if !tx.early
            || tx.tried
            || tx.watch
            || tx.log.is_some()
            || tx.plan.len() != 2
            || tx.plan[1].0 != self.id
        {
            return false;
        }
        let s = tx.plan[0].0;
        if self.try_off[s] > 0 {
            self.try_off[s] -= 1;
            return false;
        }
        let home = &tx.plan[1].1;
        if ex.locks.active() && !ex.locks.may_go(home) {
            return false;
        }
        let mut keys = ex.locks.keys_vec();
        keys.extend_from_slice(&home.keys);
        let claim = Claim {
            keys,
            whole: home.whole,
            client: home.client,
            read: home.read,
            via: home.via,
        };
        // Free, so taken at once.
        let _ = ex.lock_home(op, claim, false, true);
        let c = &tx.plan[0].1;
        let b = wire.batch(s);
        let first = b.lock_keys.len() as u32;
        b.lock_keys.extend_from_slice(&c.keys);
        b.reqs.push(Req::Lock {
            op,
            client: c.client,
            whole: c.whole,
            read: c.read,
            watch: false,
            last: true,
            no_wait: true,
            log: 0,
            first,
            n: c.keys.len() as u32,
        });
        tx.trying = true;
        self.send_steps_on(ex, wire, op, tx, s);
        wire.batch(s).reqs.push(Req::Unlock { op });
        tx.self_unlocked = Some(0);
        true
    }

    /// Event: a peer refused transaction `op`'s request not to wait
    /// (`try_first`): nothing of it ran. Its home locks go, and it starts
    /// over, locking in shard order.
    pub fn refused(&mut self, ex: &mut Executor<S>, wire: &mut impl Wire<S>, op: u32) {
        let Some(mut tx) = self.txs.get_mut(op as usize).and_then(Option::take) else {
            return;
        };
        if tx.trying {
            tx.trying = false;
            tx.tried = true;
            self.try_off[tx.plan[0].0] = TRY_BACKOFF;
            ex.unlock(wire, tx.id);
            tx.self_unlocked = None;
            // The only replies it waited for were the refused shard's.
            tx.pending = 0;
            for p in tx.parts.iter_mut() {
                match std::mem::replace(p, Part::Wait) {
                    Part::Ready(v) => self.pool.put(v),
                    Part::Fan(fo) => {
                        recycle_fan(&mut self.spare_fans, self.spare_cap, &mut self.pool, fo)
                    }
                    Part::Wait => {}
                }
            }
            tx.phase = Phase::Locking { next: 0 };
            self.lock_next(ex, wire, op, &mut tx);
            self.unblock_if_sent(&mut tx);
        }
        self.txs[op as usize] = Some(tx);
    }

    /// Lets the connection read on once everything the transaction sends
    /// is on its way ([`all_sent`]).
    fn unblock_if_sent(&mut self, tx: &mut Tx<S>) {
        if tx.blocks && all_sent(tx, self.id) {
            tx.blocks = false;
            if !tx.gone {
                self.out.push(ToConn::Unblock {
                    conn: tx.conn,
                    gen: tx.gen,
                });
            }
            let op = tx.id as u32;
            // A shared read's sharers wait as its own connection does.
            if let Some((_, sharers)) = self.shared.iter().find(|(o, _)| *o == op) {
                for s in sharers {
                    self.out.push(ToConn::Unblock {
                        conn: s.conn,
                        gen: s.gen,
                    });
                }
            }
            for r in tx.riders.iter().filter(|r| !r.gone) {
                self.out.push(ToConn::RideSent {
                    conn: r.conn,
                    gen: r.gen,
                    op,
                });
            }
        }
    }

    /// The current plan entry's locks are held: an early transaction runs
    /// its commands there (a remote shard already did, on receipt).
    fn locks_held(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        tx: &mut Tx<S>,
    ) {
        let Phase::Locking { next } = tx.phase else {
            return;
        };
        if tx.ridable {
            self.stop_riding(op, tx);
        }
        let s = tx.plan[next].0;
        if tx.early && s == self.id {
            self.send_steps_on(ex, wire, op, tx, s);
        }
        tx.phase = Phase::Locking { next: next + 1 };
    }

    /// Sends every part of every command that belongs on shard `s`.
    fn send_steps_on(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        tx: &mut Tx<S>,
        s: usize,
    ) {
        for i in 0..tx.steps.len() {
            self.send_step(ex, wire, op, tx, i, Some(s));
        }
    }

    /// Event: the locks of transaction `op`'s current plan entry are held
    /// (`changed`: a key the client WATCHes changed there).
    pub fn locked(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        changed: bool,
    ) {
        let Some(mut tx) = self.txs.get_mut(op as usize).and_then(Option::take) else {
            return;
        };
        tx.changed |= changed;
        if tx.trying {
            // The other shard ran its part and let go: the home shard's
            // part runs now, under the home locks held since the try.
            tx.trying = false;
            self.send_steps_on(ex, wire, op, &mut tx, self.id);
            tx.phase = Phase::Locking {
                next: tx.plan.len(),
            };
        } else {
            self.locks_held(ex, wire, op, &mut tx);
        }
        self.lock_next(ex, wire, op, &mut tx);
        self.unblock_if_sent(&mut tx);
        self.txs[op as usize] = Some(tx);
    }

    /// Event: connection `conn`/`gen` closed. Its transactions go on to
    /// their end, since some shards may already run their commands and
    /// every lock must still be released in its turn; what would go to the
    /// connection is dropped.
    pub fn closed(&mut self, conn: u32, gen: u32) {
        for tx in self.txs.iter_mut().flatten() {
            if tx.conn == conn && tx.gen == gen {
                tx.gone = true;
            }
            for m in &mut tx.members {
                if m.conn == conn && m.gen == gen {
                    m.gone = true;
                }
            }
            for r in &mut tx.riders {
                if r.conn == conn && r.gen == gen {
                    r.gone = true;
                }
            }
        }
    }

    // ---- the run phase -----------------------------------------------------

    /// The next transaction that can advance, if any.
    pub fn next_runnable(&mut self) -> Option<u32> {
        self.runnable.pop()
    }

    /// Whether advancing transaction `op` now runs a command that may run
    /// long ([`Service::runs_long`]: a script run by copy, or a round of
    /// one over the whole keyspace), and the connection it answers: the
    /// reactor lends its other connections to the busy desk for that time.
    pub fn runs_long(&self, op: u32) -> Option<(u32, u32)> {
        let tx = self.txs.get(op as usize)?.as_ref()?;
        match tx.phase {
            Phase::Copying { step, waiting: 0 } if self.svc.runs_long(tx.steps[step].0) => {
                Some((tx.conn, tx.gen))
            }
            _ => None,
        }
    }

    /// Event: transaction `op` may advance (from [`Self::next_runnable`]).
    /// With every lock held it sends the commands in order, stopping at a
    /// command run by copy until its copies arrive and at a connection
    /// command until the reactor ran it; then releases the locks, and
    /// answers once every reply is in.
    pub fn advance(&mut self, ex: &mut Executor<S>, wire: &mut impl Wire<S>, op: u32) {
        let Some(mut tx) = self.txs.get_mut(op as usize).and_then(Option::take) else {
            return;
        };
        while let Phase::Copying { step, waiting: 0 } = tx.phase {
            // False: it named keys not copied yet, and asked for them (they
            // may all be in already, when they are this shard's).
            if self.run_copy(ex, wire, op, &mut tx, step) {
                tx.phase = Phase::Running { pc: step + 1 };
            }
        }
        if let Phase::Copying { .. } = tx.phase {
            self.txs[op as usize] = Some(tx);
            return;
        }
        self.run_steps(ex, wire, op, tx);
    }

    fn run_steps(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        mut tx: Box<Tx<S>>,
    ) {
        while let Phase::Running { pc } = tx.phase {
            if pc == tx.steps.len() {
                if tx.log.is_some() {
                    // Unlocks wait for the decision (below).
                    tx.phase = Phase::Releasing;
                } else {
                    self.release(ex, wire, op, &mut tx);
                }
                break;
            }
            // A PUBLISH waits for every command before it to have run, so
            // that their keyspace events reach subscribers ahead of its
            // message, as in Redis (`reply` resumes it).
            if tx.pending > 0
                && matches!(
                    tx.steps[pc].2,
                    Ok(Route::PubSub(PubSubOp::Publish | PubSubOp::SPublish))
                )
            {
                break;
            }
            tx.phase = Phase::Running { pc: pc + 1 };
            self.send_step(ex, wire, op, &mut tx, pc, None);
        }
        if tx.phase == Phase::Releasing && tx.pending == 0 {
            if let Some(tag) = tx.log.take() {
                // Every part is applied and, its reply having left its
                // shard after that shard's log, logged: the decision goes
                // in this shard's log, and the answer and the unlocks
                // leave after it.
                ex.effects.commit_tx(tag);
                self.release(ex, wire, op, &mut tx);
            }
            self.finish(op, tx);
        } else {
            self.txs[op as usize] = Some(tx);
        }
    }

    /// Sends the unlocks: after its last command on every shard (behind it
    /// on the same ring), the home shard's here.
    /// A blocking command that found nothing is parked first, on each
    /// owner of the keys it waits on while its locks are still held there:
    /// nothing can push to those keys between the look and the parking
    /// (the unlock follows on the same ring). A woken waiter that was
    /// served leaves its owners' queues the same way, ahead of the unlock.
    fn release(&mut self, ex: &mut Executor<S>, wire: &mut impl Wire<S>, op: u32, tx: &mut Tx<S>) {
        tx.phase = Phase::Releasing;
        if tx.wait.is_some() && !tx.gone {
            let dest = crate::msg::Dest {
                conn: tx.conn,
                gen: tx.gen,
                seq: tx.seq,
                part: 0,
            };
            let (cmd, ref args, _) = tx.steps[0];
            for &s in &tx.owners {
                if s == self.id {
                    ex.park(self.id, dest, &tx.client, cmd, args.args());
                } else {
                    let b = wire.batch(s);
                    let (first, n) = b.push_args(args.args().iter());
                    b.reqs.push(Req::Park {
                        dest,
                        cmd,
                        client: tx.client,
                        first,
                        n,
                    });
                }
            }
        } else if tx.woken {
            for &s in &tx.owners {
                if s == self.id {
                    ex.unpark(tx.client.id, self.id);
                } else {
                    wire.batch(s).reqs.push(Req::Unpark {
                        client: tx.client.id,
                    });
                }
            }
        }
        for (e, &(s, _)) in tx.plan.iter().enumerate() {
            if tx.self_unlocked == Some(e) {
                continue;
            }
            if s == self.id {
                ex.unlock(wire, tx.id);
            } else {
                wire.batch(s).reqs.push(Req::Unlock { op });
            }
        }
    }

    /// The connection command transaction `op` stopped at: the connection,
    /// the command and its arguments.
    pub fn conn_cmd(&self, op: u32) -> Option<(u32, u32, S::Cmd, Args<'_>)> {
        let tx = self.txs.get(op as usize)?.as_ref()?;
        let Phase::AtConn { step } = tx.phase else {
            return None;
        };
        let (cmd, args, _) = &tx.steps[step];
        Some((tx.conn, tx.gen, *cmd, args.args()))
    }

    /// The pub/sub command transaction `op` stopped at, if that is what
    /// it stopped at: the command, which one, its arguments, and whether the
    /// connection speaks RESP3. The reactor delivers PUBLISH's message to
    /// its own subscribers (or answers PUBSUB) and reports with
    /// [`Self::conn_ran`], whether the connection is still there or not.
    /// For PUBLISH the reactor also sends the message to the other shards
    /// (`Req::TxPublish`, as part `step`), after the keyspace events made
    /// before it, so every subscriber gets those first.
    pub fn pubsub_step(&self, op: u32) -> Option<(S::Cmd, PubSubOp, Args<'_>, bool, u32)> {
        let tx = self.txs.get(op as usize)?.as_ref()?;
        let Phase::AtConn { step } = tx.phase else {
            return None;
        };
        match &tx.steps[step] {
            (cmd, args, Ok(Route::PubSub(ps))) => {
                Some((*cmd, *ps, args.args(), tx.client.resp3, step as u32))
            }
            _ => None,
        }
    }

    /// Event: the connection command ran: its `reply`, and the connection's
    /// facts after it (`None`: the connection is gone). For PUBLISH, the
    /// reply is this shard's count, one part of the sum.
    pub fn conn_ran(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        client: Option<ClientCtx>,
        reply: Vec<u8>,
    ) {
        let Some(mut tx) = self.txs.get_mut(op as usize).and_then(Option::take) else {
            return;
        };
        let Phase::AtConn { step } = tx.phase else {
            self.txs[op as usize] = Some(tx);
            return;
        };
        if let Some(c) = client {
            tx.client = c;
        }
        match &mut tx.parts[step] {
            p @ Part::Fan(_) => add_reply(
                p,
                self.id as u32,
                reply,
                &mut self.pool,
                (&mut self.spare_fans, self.spare_cap),
            ),
            p => *p = Part::Ready(reply),
        }
        tx.phase = Phase::Running { pc: step + 1 };
        self.run_steps(ex, wire, op, tx);
    }

    /// Sends (or runs) transaction command `i`; with `only`, just its parts
    /// that belong on that shard.
    fn send_step(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        tx: &mut Tx<S>,
        i: usize,
        only: Option<usize>,
    ) {
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
        self.send_routed(ex, wire, op, tx, i, cmd, route, owned.args(), only);
        tx.steps[i].1 = owned;
    }

    #[allow(clippy::too_many_arguments)]
    fn send_routed(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
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
            Route::Conn | Route::Clients { .. } if tx.gone => {
                tx.parts[i] = Part::Ready(Vec::new());
            }
            Route::Conn | Route::Clients { .. } => {
                tx.phase = Phase::AtConn { step: i };
                self.out.push(ToConn::ConnCmd { op });
            }
            Route::Tx(_) => tx.parts[i] = Part::Ready(b"+OK\r\n".to_vec()),
            // The service refuses subscriptions in MULTI before they are
            // queued.
            Route::PubSub(ps) if !pubsub_in_tx(ps) => {
                tx.parts[i] = Part::Ready(PUBSUB_IN_TX.to_vec())
            }
            Route::PubSub(ps @ (PubSubOp::Publish | PubSubOp::SPublish)) => {
                // Every shard delivers to its subscribers and counts them,
                // summed: this one's reactor in the transaction's turn
                // (below), which also sends the message to the others
                // (`pubsub_step`), so whatever the transaction does next
                // goes after the message.
                let _ = ps;
                let fo = FanOut::new(Fold::Sum, self.n);
                tx.parts[i] = Part::Fan(Box::new(fo));
                tx.pending += self.n - 1;
                tx.phase = Phase::AtConn { step: i };
                self.out.push(ToConn::ConnCmd { op });
            }
            // PUBSUB's questions, answered from the directory by the
            // reactor, in their turn.
            Route::PubSub(_) if tx.gone => tx.parts[i] = Part::Ready(Vec::new()),
            Route::PubSub(_) => {
                tx.phase = Phase::AtConn { step: i };
                self.out.push(ToConn::ConnCmd { op });
            }
            Route::Shard(s) => self.send_to(ex, wire, op, tx, i, 0, s % self.n, cmd, args, only),
            Route::All(Fold::One) => self.start_copy(ex, wire, op, tx, i, &route, args),
            Route::All(fold) => {
                if matches!(tx.parts[i], Part::Wait) {
                    let mut fo = FanOut::new(fold, self.n);
                    fo.seed = self.next_random();
                    tx.parts[i] = Part::Fan(Box::new(fo));
                }
                for s in 0..self.n {
                    self.send_to(ex, wire, op, tx, i, s as u32, s, cmd, args, only);
                }
            }
            Route::Keys { fold, .. } => {
                // A command planned before (early: one call per shard)
                // spans shards; otherwise whether it does, without a list.
                let planned = tx.splits.get(i).is_some_and(Option::is_some);
                let mut target = None;
                let mut spans = planned;
                if !planned {
                    for k in route.keys(args) {
                        let s = self.slots.shard_of(k);
                        match target {
                            None => target = Some(s),
                            Some(t) if t != s => {
                                spans = true;
                                break;
                            }
                            _ => {}
                        }
                    }
                }
                match target {
                    _ if spans && fold == Fold::One => {
                        self.start_copy(ex, wire, op, tx, i, &route, args)
                    }
                    _ if spans => {
                        self.send_split(ex, wire, op, tx, i, cmd, args, &route, fold, only)
                    }
                    None => self.send_to(ex, wire, op, tx, i, 0, self.id, cmd, args, only),
                    Some(s) => self.send_to(ex, wire, op, tx, i, 0, s, cmd, args, only),
                }
            }
        }
    }

    /// Runs `args` on shard `s` as part `sub` of command `i`: on the home
    /// executor here, else by message; nothing when `only` names another
    /// shard. With a fan-out part, `tx.parts[i]` is already its `Part::Fan`.
    #[allow(clippy::too_many_arguments)]
    fn send_to(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
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
        let client = match i.checked_sub(1) {
            Some(r) if !tx.riders.is_empty() => tx.riders[r].client,
            _ => tx.client,
        };
        if s == self.id {
            let mut v = self.pool.get();
            ex.effects.set_tx(tx.log);
            ex.run(&client, cmd, args, sub, &mut v);
            ex.effects.set_tx(None);
            add_reply(
                &mut tx.parts[i],
                sub,
                v,
                &mut self.pool,
                (&mut self.spare_fans, self.spare_cap),
            );
            return;
        }
        tx.pending += 1;
        // While it takes riders, its first shard may still hold its lock
        // request in the queue.
        let late = tx.ridable;
        let b = wire.batch(s);
        let (first, n) = b.push_args(args.iter());
        b.reqs.push(Req::TxExec {
            late,
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
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
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
        let (first, last, step) = crate::service::key_range(args.len(), first, last, step);
        // The split is planned once per command and kept: an early
        // transaction sends it one shard at a time.
        let split = match tx.splits.get_mut(i).and_then(Option::take) {
            Some(split) => split,
            None => {
                let nkeys = if last >= first {
                    (last.min(args.len().saturating_sub(1)) - first) / step + 1
                } else {
                    0
                };
                // A kept plan's buffers, emptied: its groups keep their
                // ordinal lists (with their shards overwritten below).
                let mut split = self.spare_splits.pop().unwrap_or_else(|| Split {
                    groups: Vec::with_capacity(2),
                    keys_at: Vec::with_capacity(nkeys),
                });
                let mut used = 0;
                let mut k = first;
                while k <= last && k < args.len() {
                    split.push_key(&mut used, self.slots.shard_of(args.get(k)), k);
                    k += step;
                }
                split.groups.truncate(used);
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
            let mut fo = match self.spare_fans.pop() {
                Some(mut fo) => {
                    fo.reset(fold, groups.len());
                    fo
                }
                None => Box::new(FanOut::new(fold, groups.len())),
            };
            fo.total = keys_at.len();
            fo.map.truncate(groups.len());
            for (m, g) in fo.map.iter_mut().zip(groups) {
                m.clear();
                m.extend_from_slice(&g.1);
            }
            for g in &groups[fo.map.len()..] {
                fo.map.push(g.1.clone());
            }
            tx.parts[i] = Part::Fan(fo);
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
            self.send_to(ex, wire, op, tx, i, p as u32, *s, cmd, part.args(), None);
        }
        if part.buf.capacity() <= 64 * 1024 {
            self.part_args = part;
        }
        if only.is_some() {
            if tx.splits.len() <= i {
                tx.splits.resize_with(i + 1, || None);
            }
            tx.splits[i] = Some(split);
        } else {
            self.keep_split(split);
        }
    }

    // ---- run by copy -------------------------------------------------------

    /// A command that needs keys of several shards in one place: fetch
    /// copies (the keys stay locked), run it when they are in. A
    /// whole-keyspace one starts with no key and names its keys as it
    /// reads them (see `run_copy`).
    #[allow(clippy::too_many_arguments)]
    fn start_copy(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        tx: &mut Tx<S>,
        i: usize,
        route: &Route,
        args: Args<'_>,
    ) {
        let mut keys: Vec<&[u8]> = route.keys(args).collect();
        keys.sort_unstable();
        keys.dedup();
        if tx.copy_ahead {
            // The other shards' copies were asked with their lock requests
            // (some may be in); this shard's are taken now.
            let me = self.id;
            keys.retain(|k| self.slots.shard_of(k) == me);
            self.fetch_copies(ex, wire, op, tx, &keys);
            let waiting = tx.copies_asked - tx.copies_in;
            tx.phase = Phase::Copying { step: i, waiting };
            if waiting == 0 {
                self.runnable.push(op);
            }
            return;
        }
        tx.snaps = Vec::with_capacity(keys.len());
        tx.discover = matches!(route, Route::All(_)).then(|| {
            Box::new(Discover {
                scratch: self.take_scratch(),
                asked: HashSet::default(),
                names: false,
            })
        });
        let waiting = self.fetch_copies(ex, wire, op, tx, &keys);
        tx.phase = Phase::Copying { step: i, waiting };
        if waiting == 0 {
            self.runnable.push(op);
        }
    }

    /// Asks each shard owning some of `keys` for copies of them; copies of
    /// this shard's keys are taken at once. How many shards will answer.
    fn fetch_copies(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        tx: &mut Tx<S>,
        keys: &[&[u8]],
    ) -> usize {
        let mut waiting = 0;
        let mut shards: Vec<usize> = keys.iter().map(|k| self.slots.shard_of(k)).collect();
        shards.sort_unstable();
        shards.dedup();
        for s in shards {
            let mine = keys.iter().copied().filter(|k| self.slots.shard_of(k) == s);
            if s == self.id {
                for k in mine {
                    let snap = self.svc.export(&mut ex.shard, k);
                    tx.snaps.push((k.to_vec(), snap));
                }
            } else {
                waiting += 1;
                let b = wire.batch(s);
                let (first, n) = b.push_args(mine);
                b.reqs.push(Req::Export { op, first, n });
            }
        }
        waiting
    }

    /// Event: copies for a command run by copy arrived from one shard.
    pub fn exported(&mut self, op: u32, snaps: impl Iterator<Item = (Vec<u8>, S::Snapshot)>) {
        let Some(tx) = self.txs.get_mut(op as usize).and_then(Option::as_mut) else {
            return;
        };
        let Phase::Copying { step, waiting } = tx.phase else {
            if tx.copy_ahead {
                // Asked with a lock request: kept for the copy step.
                tx.snaps.extend(snaps);
                tx.copies_in += 1;
            }
            return;
        };
        tx.snaps.extend(snaps);
        let waiting = waiting - 1;
        tx.phase = Phase::Copying { step, waiting };
        if waiting == 0 {
            self.runnable.push(op);
        }
    }

    /// A scratch shard: the one kept from the last command run by copy, or
    /// a new one.
    fn take_scratch(&mut self) -> Box<S::Shard> {
        self.spare_scratch
            .take()
            .unwrap_or_else(|| Box::new(self.svc.scratch(self.id, self.n)))
    }

    /// Keeps a scratch shard for the next command run by copy, emptied
    /// (one at most, so what is kept stays bounded).
    fn put_scratch(&mut self, mut scratch: Box<S::Shard>) {
        if self.svc.reset_scratch(&mut scratch) {
            self.spare_scratch = Some(scratch);
        }
    }

    /// Every copy is in: run the command on a scratch shard and send the
    /// keys it wrote back to their owners (ahead of anything sent later);
    /// true. A whole-keyspace command that names keys not yet copied asks
    /// for them instead (the phase says how many shards will answer), and
    /// runs once a round names nothing new: false. Each round asks for at
    /// least one new key, so the rounds end as long as the command names
    /// finitely many (SORT names at most its sorted value's elements times
    /// its patterns).
    fn run_copy(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        tx: &mut Tx<S>,
        step: usize,
    ) -> bool {
        self.close_group(op, tx);
        let escalating = tx.discover.is_some();
        let mut scratch = match tx.discover.take() {
            Some(mut d) => {
                for (k, snap) in std::mem::take(&mut tx.snaps) {
                    self.svc.load(&mut d.scratch, &k, snap);
                }
                let (cmd, ref args, _) = tx.steps[step];
                let mut named = self
                    .svc
                    .copy_keys(&mut d.scratch, &tx.client, cmd, args.args());
                named.retain(|k| d.asked.insert(k.clone()));
                let names = !d.names && self.svc.copy_names(&mut d.scratch);
                if !named.is_empty() || names {
                    let keys: Vec<&[u8]> = named.iter().map(Vec::as_slice).collect();
                    let mut waiting = self.fetch_copies(ex, wire, op, tx, &keys);
                    if names {
                        // Every shard is locked whole: the names are one
                        // moment's, like the copies.
                        d.names = true;
                        for s in 0..self.n {
                            if s == self.id {
                                tx.snaps.extend(self.svc.export_names(&mut ex.shard));
                            } else {
                                waiting += 1;
                                wire.batch(s).reqs.push(Req::ExportNames { op });
                            }
                        }
                    }
                    tx.phase = Phase::Copying { step, waiting };
                    tx.discover = Some(d);
                    return false;
                }
                d.scratch
            }
            None => {
                let mut scratch = self.take_scratch();
                for (k, snap) in std::mem::take(&mut tx.snaps) {
                    self.svc.load(&mut scratch, &k, snap);
                }
                scratch
            }
        };
        let escalable = !tx.exec && tx.steps.len() == 1 && !tx.may_wait && !escalating;
        let (cmd, ref args, _) = tx.steps[step];
        let mut reply = Vec::new();
        // A logged transaction records the commands the copy runs, for
        // the keys' owners to log (`split_effects`); its messages
        // (keyspace events) are the home shard's to deliver.
        let mut effects = crate::exec::Effects::default();
        effects.set_enabled(tx.log.is_some());
        effects.pushes.set_listening(ex.effects.pushes.listening());
        // A group: the leader, then each member in arrival order, on the
        // one scratch shard, each seeing the writes of those before it.
        let mut written = Vec::new();
        let group = !tx.members.is_empty();
        if group {
            tx.rerun = run_grouped(
                &*self.svc,
                &mut scratch,
                &mut effects,
                &tx.client,
                cmd,
                args.args(),
                &mut reply,
                &mut written,
            );
            for m in &mut tx.members {
                m.rerun = run_grouped(
                    &*self.svc,
                    &mut scratch,
                    &mut effects,
                    &m.client,
                    m.cmd,
                    m.args.args(),
                    &mut m.reply,
                    &mut written,
                );
            }
        } else if escalable {
            // A script that reaches keys it did not declare: nothing of its
            // run is kept, and it runs again over the whole keyspace once
            // these locks are released (crate doc, "Scripts").
            tx.rerun = crate::exec::run_escalable(
                &*self.svc,
                &mut scratch,
                &mut effects,
                &tx.client,
                cmd,
                args.args(),
                0,
                false,
                &mut reply,
            );
            if tx.rerun {
                tx.parts[step] = Part::Ready(reply);
                self.put_scratch(scratch);
                return true;
            }
        } else if tx.may_wait {
            tx.wait = crate::exec::run_may_block(
                &*self.svc,
                &mut scratch,
                &mut effects,
                &tx.client,
                cmd,
                args.args(),
                0,
                false,
                &mut reply,
            );
        } else {
            crate::exec::run(
                &*self.svc,
                &mut scratch,
                &mut effects,
                &tx.client,
                cmd,
                args.args(),
                0,
                false,
                &mut reply,
            );
        }
        tx.parts[step] = Part::Ready(reply);
        // Reads of a tracking client go to their owners ahead of the unlock.
        super::tracking::forward_reads(ex, wire, &mut effects.pushes);
        ex.effects.pushes.append(&mut effects.pushes);
        let dirty = if group {
            // Each key once, in its state after the last member.
            written.sort_unstable();
            written.dedup();
            let svc = &*self.svc;
            written
                .into_iter()
                .map(|k| {
                    let snap = svc.export(&mut scratch, &k);
                    (k, snap)
                })
                .collect()
        } else {
            self.svc.take_dirty(&mut scratch)
        };
        self.put_scratch(scratch);
        let dirty = if tx.log.is_some() {
            self.write_back_shares(ex, wire, op, tx, &effects, dirty)
        } else {
            dirty
        };
        for (k, snap) in dirty {
            let s = self.slots.shard_of(&k);
            if s == self.id {
                ex.effects.set_tx(tx.log);
                self.svc
                    .import(&mut ex.shard, &mut ex.effects, &k, snap, true);
                ex.effects.set_tx(None);
                // A client waiting on the key may be served now, as when
                // a peer's write-back lands.
                ex.note_import(&k);
            } else {
                let b = wire.batch(s);
                b.req_snaps.push((k, snap));
                b.reqs.push(Req::Import {
                    op,
                    n: 1,
                    share: false,
                });
                if tx.log.is_some() {
                    // Acknowledged once logged there (the decision waits).
                    tx.pending += 1;
                }
            }
        }
        true
    }

    /// The write-back of a logged command run by copy, for the owners
    /// whose share of its `effects` is logged (`split_effects`): each
    /// logs its share, then imports its keys unlogged. The keys of the
    /// owners that fall back are handed back, to be written back with
    /// their states logged.
    fn write_back_shares(
        &mut self,
        ex: &mut Executor<S>,
        wire: &mut impl Wire<S>,
        op: u32,
        tx: &mut Tx<S>,
        effects: &crate::exec::Effects,
        dirty: Vec<(Vec<u8>, S::Snapshot)>,
    ) -> Vec<(Vec<u8>, S::Snapshot)> {
        let shares = split_effects(&*self.svc, effects, &dirty, &self.slots);
        let (logged, rest): (Vec<_>, Vec<_>) = dirty
            .into_iter()
            .partition(|(k, _)| shares[self.slots.shard_of(k)].is_some());
        let mut logged: Vec<_> = logged.into_iter().map(Some).collect();
        for (s, share) in shares.into_iter().enumerate() {
            let Some(share) = share else {
                continue;
            };
            let mine = logged
                .iter_mut()
                .filter(|d| d.as_ref().is_some_and(|(k, _)| self.slots.shard_of(k) == s))
                .filter_map(Option::take);
            if s == self.id {
                ex.effects.set_tx(tx.log);
                self.svc.log_share(&mut ex.shard, &mut ex.effects, &share);
                for (k, snap) in mine {
                    self.svc
                        .import(&mut ex.shard, &mut ex.effects, &k, snap, false);
                    ex.note_import(&k);
                }
                ex.effects.set_tx(None);
            } else {
                let b = wire.batch(s);
                let start = b.req_snaps.len();
                b.req_snaps.extend(mine);
                let keys = (b.req_snaps.len() - start) as u32;
                if share.is_empty() && keys == 0 {
                    continue;
                }
                b.req_shares.push(share);
                b.reqs.push(Req::Import {
                    op,
                    n: keys,
                    share: true,
                });
                // Acknowledged once logged there (the decision waits).
                tx.pending += 1;
            }
        }
        rest
    }

    // ---- replies and the answer --------------------------------------------

    /// Event: a reply to part `sub` of transaction command `part` came back.
    pub fn reply(&mut self, op: u32, part: u32, sub: u32, bytes: &[u8]) {
        let Some(tx) = self.txs.get_mut(op as usize).and_then(Option::as_mut) else {
            return;
        };
        if let Some(p) = tx.parts.get_mut(part as usize) {
            let mut v = self.pool.get();
            v.extend_from_slice(bytes);
            add_reply(
                p,
                sub,
                v,
                &mut self.pool,
                (&mut self.spare_fans, self.spare_cap),
            );
        }
        tx.pending -= 1;
        if tx.pending == 0 && matches!(tx.phase, Phase::Running { .. }) {
            // Held at a PUBLISH until now (`run_steps`).
            self.runnable.push(op);
        } else if tx.pending == 0 && tx.phase == Phase::Releasing {
            if tx.log.is_some() {
                // The decision and the unlocks need the executor.
                self.runnable.push(op);
            } else if let Some(tx) = self.txs[op as usize].take() {
                self.finish(op, tx);
            }
        }
    }

    /// Folds the replies into the answer for the reactor, and keeps the
    /// transaction's box and buffers for the next one.
    fn finish(&mut self, op: u32, mut tx: Box<Tx<S>>) {
        self.close_group(op, &mut tx);
        if tx.ridable {
            self.stop_riding(op, &mut tx);
        }
        self.free.push(op);
        let shared = match self.shared.iter().position(|(o, _)| *o == op) {
            Some(i) => Some(self.shared.swap_remove(i).1),
            None => None,
        };
        match shared {
            Some(sharers) => self.answer_shared(&mut tx, sharers),
            None => self.answer(&mut tx),
        }
        self.recycle(tx);
    }

    /// Keeps a split plan's buffers for the next split command, within
    /// the spares' caps.
    fn keep_split(&mut self, mut sp: Split) {
        if self.spare_splits.len() < self.spare_cap
            && sp.keys_at.capacity() <= SPARE_KEYS
            && sp.groups.iter().map(|g| g.1.capacity()).sum::<usize>() <= SPARE_KEYS
        {
            sp.clear();
            self.spare_splits.push(sp);
        }
    }

    /// Empties a finished transaction into the spares, within their caps.
    fn recycle(&mut self, mut tx: Box<Tx<S>>) {
        for p in tx.parts.drain(..) {
            match p {
                Part::Ready(v) => self.pool.put(v),
                Part::Fan(fo) => {
                    recycle_fan(&mut self.spare_fans, self.spare_cap, &mut self.pool, fo)
                }
                Part::Wait => {}
            }
        }
        if !tx.splits.is_empty() {
            let mut splits = std::mem::take(&mut tx.splits);
            for sp in splits.drain(..).flatten() {
                self.keep_split(sp);
            }
            tx.splits = splits;
        }
        let mut steps = std::mem::take(&mut tx.steps);
        for (_, args, _) in steps.drain(..) {
            keep_args(&mut self.spare_args, self.spare_cap, args);
        }
        if self.spare_steps.len() < self.spare_cap && steps.capacity() <= SPARE_LEN {
            self.spare_steps.push(steps);
        }
        let mut plan = std::mem::take(&mut tx.plan);
        plan.clear();
        if self.spare_plans.len() < self.spare_cap && plan.capacity() <= SPARE_LEN {
            self.spare_plans.push(plan);
        }
        if !tx.members.is_empty() {
            for m in tx.members.drain(..) {
                self.pool.put(m.reply);
                keep_args(&mut self.spare_args, self.spare_cap, m.args);
            }
        }
        tx.snaps.clear();
        tx.owners = Vec::new();
        tx.discover = None;
        if self.spare_txs.len() < self.spare_cap
            && tx.parts.capacity() <= SPARE_LEN
            && tx.splits.capacity() <= SPARE_LEN
            && tx.snaps.capacity() <= SPARE_LEN
            && tx.members.capacity() <= GROUP_CAP
            && tx.riders.capacity() <= RIDERS_CAP
        {
            self.spare_txs.push(tx);
        }
    }

    /// The answers of a finished transaction, for the reactor: its own,
    /// then each member's of its group, in order.
    fn answer(&mut self, tx: &mut Tx<S>) {
        if !tx.riders.is_empty() {
            self.answer_riders(tx);
        }
        self.answer_leader(tx);
        if tx.members.is_empty() {
            return;
        }
        for m in tx.members.drain(..) {
            if m.gone {
                self.pool.put(m.reply);
                keep_args(&mut self.spare_args, self.spare_cap, m.args);
                continue;
            }
            if m.rerun {
                self.pool.put(m.reply);
                self.reruns.push_back(Rerun {
                    conn: m.conn,
                    gen: m.gen,
                    seq: m.seq,
                    client: m.client,
                    cmd: m.cmd,
                    args: m.args,
                    holds: true,
                });
                self.out.push(ToConn::Rerun);
                continue;
            }
            self.out.push(ToConn::Answer {
                conn: m.conn,
                gen: m.gen,
                seq: m.seq,
                blocks: true,
                exec: false,
                reply: m.reply,
            });
            keep_args(&mut self.spare_args, self.spare_cap, m.args);
        }
    }

    /// The answers of a finished transaction's riders, each to its own
    /// connection; its own command's part is left alone.
    fn answer_riders(&mut self, tx: &mut Tx<S>) {
        for (i, r) in tx.riders.iter().enumerate() {
            let Some(p) = tx.parts.get_mut(i + 1) else {
                break;
            };
            match std::mem::replace(p, Part::Wait) {
                Part::Ready(reply) if !r.gone => self.out.push(ToConn::Answer {
                    conn: r.conn,
                    gen: r.gen,
                    seq: r.seq,
                    blocks: false,
                    exec: false,
                    reply,
                }),
                Part::Ready(v) => self.pool.put(v),
                Part::Fan(fo) => {
                    recycle_fan(&mut self.spare_fans, self.spare_cap, &mut self.pool, fo)
                }
                Part::Wait => {}
            }
        }
        tx.parts.truncate(1);
        tx.riders.clear();
    }

    /// The answers of a shared read (one split command that only reads):
    /// its riders', then its own reply to each request that shares it,
    /// then to its own connection (if still there).
    fn answer_shared(&mut self, tx: &mut Tx<S>, sharers: Vec<Sharer>) {
        if !tx.riders.is_empty() {
            self.answer_riders(tx);
        }
        debug_assert!(tx.wait.is_none() && !tx.rerun && tx.members.is_empty());
        let reply = self.leader_reply(tx);
        let mut v = self.pool.get();
        v.extend_from_slice(&reply);
        self.out.push(ToConn::Shared {
            sharers,
            blocks: tx.blocks,
            cmd: tx.steps[0].0,
            reply: v,
        });
        if tx.gone {
            self.pool.put(reply);
            return;
        }
        self.answer_own(tx, reply);
    }

    /// Answers a transaction's own connection with `reply`.
    fn answer_own(&mut self, tx: &Tx<S>, reply: Vec<u8>) {
        self.out.push(ToConn::Answer {
            conn: tx.conn,
            gen: tx.gen,
            seq: tx.seq,
            blocks: tx.blocks,
            exec: tx.exec,
            reply,
        });
    }

    /// The answer of a finished transaction's own command.
    fn answer_leader(&mut self, tx: &mut Tx<S>) {
        if let Some(timeout) = tx.wait {
            // Even for a connection gone meanwhile: the reactor then
            // withdraws it from the owners that parked it.
            self.out.push(ToConn::Wait {
                conn: tx.conn,
                gen: tx.gen,
                seq: tx.seq,
                client: tx.client.id,
                owners: std::mem::take(&mut tx.owners),
                timeout,
            });
            return;
        }
        if tx.gone {
            return;
        }
        if tx.rerun {
            let Some((cmd, args, _)) = tx.steps.pop() else {
                return;
            };
            self.reruns.push_back(Rerun {
                conn: tx.conn,
                gen: tx.gen,
                seq: tx.seq,
                client: tx.client,
                cmd,
                args,
                holds: tx.blocks,
            });
            self.out.push(ToConn::Rerun);
            return;
        }
        let reply = self.leader_reply(tx);
        self.answer_own(tx, reply);
    }

    /// The reply of a finished transaction's own command (or EXEC's).
    fn leader_reply(&mut self, tx: &mut Tx<S>) -> Vec<u8> {
        let resp3 = tx.client.resp3;
        let mut out = self.pool.get();
        if let [Part::Ready(v)] = &mut tx.parts[..] {
            if !tx.exec && !tx.changed {
                // One command's reply is the answer as it is.
                std::mem::swap(&mut out, v);
            }
        }
        if !out.is_empty() {
            // Taken whole above.
        } else if tx.changed {
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
        out
    }
}

/// A digest of a lock plan's keys per shard (the claims' key ids are
/// sorted and without repeats): two plans on the same keys have the same.
/// A split command's name (lowercase) and keys, each after its length:
/// two commands with the same ride key are the same command on the same
/// keys.
pub(super) fn ride_key(args: Args<'_>, route: &Route, out: &mut Vec<u8>) {
    out.clear();
    let name = args.get(0);
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.extend(name.iter().map(u8::to_ascii_lowercase));
    for k in route.keys(args) {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
    }
}

/// Whether a transaction may take riders while it waits for its first
/// shard's locks (crate doc, "Riders"): one split command over shards,
/// early.
fn ridable_plan<S: Service>(tx: &Tx<S>) -> bool {
    !tx.exec
        && tx.early
        && !tx.watch
        && !tx.woken
        && !tx.copy_ahead
        && tx.steps.len() == 1
        && tx.plan.len() >= 2
        && tx.splits.first().is_some_and(Option::is_some)
}

fn plan_digest(plan: &[(usize, Claim)]) -> u64 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for (s, c) in plan {
        h = (h.rotate_left(7) ^ *s as u64).wrapping_mul(0x100_0000_01b3);
        for &k in &c.keys {
            h = (h.rotate_left(7) ^ k).wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

/// Keeps a finished command's argument buffer for the next multi-key
/// command, within the spares' caps.
fn keep_args(spare: &mut Vec<OwnedArgs>, cap: usize, args: OwnedArgs) {
    if spare.len() < cap && args.buf.capacity() <= SPARE_ARGS && args.spans.capacity() <= SPARE_KEYS
    {
        spare.push(args);
    }
}

/// Runs one command of a group on the group's scratch shard, where the
/// commands before it left their writes, and adds the keys it wrote to
/// `written`. A command that asks to run again over the whole keyspace
/// (`Sink::escalate`) is taken back alone: its writes through the journal
/// of an attempt around it ([`Service::begin_attempt`]), its messages by
/// cutting `effects` back; the others' writes stay. True then.
#[allow(clippy::too_many_arguments)]
fn run_grouped<S: Service>(
    svc: &S,
    scratch: &mut S::Shard,
    effects: &mut crate::exec::Effects,
    client: &ClientCtx,
    cmd: S::Cmd,
    args: Args<'_>,
    out: &mut Vec<u8>,
    written: &mut Vec<Vec<u8>>,
) -> bool {
    let undoable = svc.reaches_undeclared(cmd);
    let mark = effects.checkpoint();
    if undoable {
        svc.begin_attempt(scratch);
    }
    let again = crate::exec::run_escalable(svc, scratch, effects, client, cmd, args, 0, false, out);
    if undoable {
        svc.end_attempt(scratch, again);
    }
    let keys = svc.take_written(scratch);
    if again {
        effects.cut_back(mark);
        out.clear();
    } else {
        written.extend(keys);
    }
    again
}

/// How the effects of a command run by copy (`effects`: what the
/// scratch shard recorded, in order, each with its database) are logged,
/// per shard: `Some(share)`, the commands whose keys are all that shard's,
/// which it logs instead of the states of its keys in `dirty` (the
/// write-backs); `None`, those states (the shard *falls back*).
///
/// A shard's share replays to the state written back when every change
/// to its keys is in it and each of its commands reads and writes only
/// that shard's keys. So a shard falls back when a command names keys of
/// it and of another shard (RENAME, SMOVE, SUNIONSTORE across shards:
/// each shard it names), when it wrote back a key no command of its share
/// names (a change with no command to show for it), and every shard falls
/// back when a command's keys are not all named (FLUSHALL, SWAPDB, SORT
/// with BY patterns: [`Service::effect_route`] has no route) or it names
/// none. Per shard, not per transaction: a shard that falls back logs
/// what every shard logged before, and one whose commands never touch
/// another shard's keys is unaffected by what those do, since its share
/// reads only its own keys, whose every change it holds. Per key would
/// not do: a command reads keys it does not write (SUNIONSTORE's sources),
/// so one shard's keys replay only together.
///
/// The recorded effects are those of the final run only: an attempt
/// taken back (a member of a group that runs again over the whole
/// keyspace, a round that looks for keys) cut its effects back with its
/// writes.
fn split_effects<S: Service>(
    svc: &S,
    effects: &crate::exec::Effects,
    dirty: &[(Vec<u8>, S::Snapshot)],
    slots: &SlotMap,
) -> Vec<Option<crate::exec::Share>> {
    let n = slots.shards();
    let mut shares: Vec<Option<crate::exec::Share>> =
        (0..n).map(|_| Some(Default::default())).collect();
    let mut named: Vec<HashSet<Vec<u8>>> = vec![HashSet::new(); n];
    let mut whole = false;
    let mut owners = Vec::new();
    effects.each(|db, resp, args| {
        let Some(route @ Route::Keys { .. }) = svc.effect_route(args) else {
            whole = true;
            return;
        };
        owners.clear();
        for k in route.keys(args) {
            let s = slots.shard_of(k);
            owners.push(s);
            if !named[s].contains(k) {
                named[s].insert(k.to_vec());
            }
        }
        owners.sort_unstable();
        owners.dedup();
        match owners[..] {
            [] => whole = true,
            [s] => {
                if let Some(share) = &mut shares[s] {
                    share.push(db, resp);
                }
            }
            _ => {
                for &s in &owners {
                    shares[s] = None;
                }
            }
        }
    });
    if whole {
        return (0..n).map(|_| None).collect();
    }
    // A key written back that no command names changed with nothing in
    // the log to show for it.
    for (k, _) in dirty {
        let s = slots.shard_of(k);
        if !named[s].contains(k) {
            shares[s] = None;
        }
    }
    shares
}

/// Whether everything `tx` sends is on its way: the connection may read
/// on, since each shard sees its later commands behind the transaction
/// (ring order, and a command waits behind its own connection's queued lock
/// request). Before that, a later command could overtake it on a shard not
/// yet asked. Unlocks still to come are harmless: a later command on a
/// locked key waits for them, and one on other keys cannot tell.
fn all_sent<S: Service>(tx: &Tx<S>, home: usize) -> bool {
    let len = tx.plan.len();
    let next = match tx.phase {
        Phase::Locking { next } => next,
        _ => len,
    };
    !tx.trying && tx.early && (next == len || (next + 1 == len && tx.plan[next].0 != home))
}

/// Whether a transaction takes locks on a shard: it names keys there or
/// the whole shard.
fn involved(c: &Claim) -> bool {
    c.whole || !c.keys.is_empty()
}

/// Records reply `v` of part `sub` into a transaction command's slot; a
/// fan-out folded is kept in `fans` (up to `cap` of them).
#[allow(clippy::vec_box)]
fn add_reply(
    p: &mut Part,
    sub: u32,
    v: Vec<u8>,
    pool: &mut VecPool,
    (fans, cap): (&mut Vec<Box<FanOut>>, usize),
) {
    match p {
        Part::Fan(fo) => {
            if fo.add_owned(sub as usize, v) {
                let mut out = pool.get();
                fo.finish(&mut out);
                if let Part::Fan(fo) = std::mem::replace(p, Part::Ready(out)) {
                    recycle_fan(fans, cap, pool, fo);
                }
            }
        }
        _ => *p = Part::Ready(v),
    }
}
