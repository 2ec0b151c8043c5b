//! kevy-server's side of the runtime seam: resolves commands through the
//! table (the only place routing facts live) and runs their handlers.

use crate::ctx::{ConnCtx, Ctx, Session};
use crate::persist;
use crate::propagate;
use crate::server::Server;
use crate::shard::Shard;
use crate::table::{arity_ok, flag, CommandSpec, Handler, RouteKind};

use kevy_resp::{Args, OwnedArgs, Reply};
use kevy_rt::{
    ClientCtx, ClientInfo, ConnAction, Effects, InMulti, PubSubOp, Refused, Route, Service, Sink,
    TxOp, Wakes,
};
use kevy_sys::clock::cycles;
use std::sync::Arc;

/// Time one active-expiry cycle may take (a quarter of a 100 ms tick, as
/// Redis's slow cycle).
const EXPIRE_CYCLE_BUDGET: std::time::Duration = std::time::Duration::from_millis(25);

pub struct Kevy {
    pub server: Arc<Server>,
    /// What each shard loads at start-up, taken by its thread as it
    /// starts (a store stays on its thread).
    loads: crate::loading::Channels,
    /// `appendonly yes` at start-up: the shards record effects from the
    /// start, and each replays its own log files and keeps its log.
    aof: bool,
}

impl Kevy {
    pub fn new(server: Arc<Server>) -> Self {
        Kevy {
            server,
            loads: Default::default(),
            aof: false,
        }
    }

    /// Starts the shards from the append-only log (`appendonly yes`),
    /// which a loader thread reads and they replay while serving.
    pub fn with_aof(mut self) -> Self {
        self.loads = crate::loading::start_aof(self.server.clone());
        self.aof = true;
        self
    }

    /// Starts the shards from the `dump.rdb`, if there is one, which they
    /// load while serving.
    pub fn with_rdb(mut self) -> Result<Self, String> {
        let slots = self.server.slots.clone();
        if let Some(loads) = crate::loading::start_rdb(slots, self.server.persist.clone())? {
            self.loads = loads;
        }
        Ok(self)
    }

    /// Applies one effect read back from the log to `shard`, in database
    /// `db`: the command's handler, without statistics or effects, as
    /// Redis's loader runs its fake client.
    pub fn replay(&self, shard: &mut Shard, db: u32, argv: &[Vec<u8>]) -> Result<(), String> {
        let owned = kevy_resp::OwnedArgs::from_slices(argv);
        let args = owned.args();
        let name = || String::from_utf8_lossy(argv.first().map_or(&b""[..], |a| a)).into_owned();
        let id = self
            .server
            .table
            .lookup_builtin(args.get(0))
            .ok_or_else(|| format!("unknown command '{}' in the log", name()))?;
        let spec = self.server.table.get(id);
        if spec.name == "function" {
            return crate::scripting::engine::replay_function(&self.server, args);
        }
        let Handler::Shard(f) = spec.run else {
            return Err(format!("'{}' in the log is not a keyspace command", name()));
        };
        let client = ClientCtx::internal(0, db, shard.id as u32);
        let mut out = Vec::new();
        crate::notify::quiet(shard, |shard| {
            f(&mut Ctx {
                shard,
                db: db as usize,
                client: &client,
                args,
                out: Reply::new(&mut out, false),
            })
        });
        if out.first() == Some(&b'-') {
            return Err(format!(
                "'{}' in the log failed: {}",
                name(),
                String::from_utf8_lossy(&out).trim_end()
            ));
        }
        Ok(())
    }
}

/// Redis's reply to a command it does not know: the name and up to 128
/// bytes of arguments, each quoted and followed by a space.
pub fn unknown_command(args: Args<'_>) -> Vec<u8> {
    let mut rest = Vec::new();
    for a in args.iter().skip(1) {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        rest.push(b'\'');
        rest.extend_from_slice(truncate(a, room));
        rest.extend_from_slice(b"' ");
    }
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(truncate(args.get(0), 128));
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&rest);
    msg
}

/// Time every shard spent in the active expire cycle, in µs (INFO's
/// `expire_cycle_cpu_milliseconds`).
pub static EXPIRE_CYCLE_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Hands the messages a script published to the runtime, in order.
#[cold]
#[inline(never)]
fn script_publishes(shard: &mut Shard, pushes: &mut kevy_rt::Pushes) {
    for (channel, message, sharded) in shard.script_pubs.drain(..) {
        if sharded {
            pushes.spublish(&channel, &message);
        } else {
            pushes.publish(&channel, &message);
        }
    }
}

/// Runs a shard handler on the client's database, its reply to the sink.
#[inline(always)]
fn run_handler(
    f: fn(&mut Ctx<'_>),
    shard: &mut Shard,
    client: &ClientCtx,
    args: Args<'_>,
    sink: &mut Sink<'_>,
) {
    f(&mut Ctx {
        shard,
        db: client.db as usize,
        client,
        args,
        out: Reply::new(&mut *sink.out, client.resp3),
    });
}

fn truncate(s: &[u8], n: usize) -> &[u8] {
    let s = &s[..s.len().min(n)];
    // printf's %s stops at a NUL byte.
    match s.iter().position(|&b| b == 0) {
        Some(z) => &s[..z],
        None => s,
    }
}

impl Kevy {
    /// Statistics of one run, taken at the execution point: counters and
    /// histogram, error kinds, and the slow log.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn account(
        &self,
        shard: &mut Shard,
        client: &ClientCtx,
        name: Option<&[u8]>,
        cmd: u16,
        args: Args<'_>,
        part: u32,
        took: u64,
        reply: &[u8],
    ) {
        let stats = &self.server.cmdstats;
        let slot = self.server.table.stat_slot(cmd, args);
        stats.record(shard.id, slot, part, took);
        if reply.first() == Some(&b'-') {
            self.failed(shard.id, slot, &reply[1..]);
        }
        if let Some(runs) = shard.attempt_stats.as_mut() {
            runs.push(crate::stats::Recorded::new(slot, part, took, reply));
        }
        if part == 0 && stats.needs_look(took) {
            self.slow_or_spike(shard.id, client, name, cmd, args, took);
        }
    }

    /// A command that ran answered the error `msg` (its text, no `-`).
    #[cold]
    #[inline(never)]
    fn failed(&self, shard: usize, slot: u16, msg: &[u8]) {
        let stats = &self.server.cmdstats;
        stats.failed(shard, slot);
        stats.error_reply(shard, msg);
    }

    /// A command that ran slower than `slowlog-log-slower-than` or
    /// `latency-monitor-threshold`.
    #[cold]
    #[inline(never)]
    fn slow_or_spike(
        &self,
        shard: usize,
        client: &ClientCtx,
        name: Option<&[u8]>,
        cmd: u16,
        args: Args<'_>,
        took: u64,
    ) {
        let stats = &self.server.cmdstats;
        let flags = self.server.table.get(cmd).flags;
        if stats.is_spike(took) {
            let event = if flags & flag::FAST != 0 {
                "fast-command"
            } else {
                "command"
            };
            let ms = kevy_sys::clock::cycles_to_ns(took) / 1_000_000;
            self.server.latency.add_if_needed(event, ms);
        }
        if flags & flag::SKIP_SLOWLOG != 0 || !stats.is_slow(took) {
            return;
        }
        let name = match name {
            Some(n) => n.to_vec(),
            None => self.server.client_name(client.id),
        };
        let stats = &self.server.cmdstats;
        stats.log_slow(shard, took, args, client.peer.to_string(), &name);
    }

    /// The flags of the subcommand `args` names, for a container whose
    /// subcommands are in the table; else (and for an unknown subcommand)
    /// the command's.
    pub fn effective_flags(&self, id: u16, spec: &CommandSpec, args: Args<'_>) -> u32 {
        let subs = self.server.table.subs(id);
        let sub = (!subs.is_empty() && args.len() > 1)
            .then(|| crate::families::common::find_sub(args, subs).ok())
            .flatten();
        sub.map_or(spec.flags, |s| s.flags)
    }

    /// While the data loads, Redis runs only the commands (or
    /// subcommands) flagged `loading` (`processCommand`).
    #[cold]
    #[inline(never)]
    fn refuse_while_loading(
        &self,
        id: u16,
        spec: &CommandSpec,
        args: Args<'_>,
    ) -> Result<(), Vec<u8>> {
        let flags = self.effective_flags(id, spec, args);
        match flags & flag::LOADING {
            0 => Err(crate::loading::LOADING_ERR.as_bytes().to_vec()),
            _ => Ok(()),
        }
    }

    /// While a script runs past `busy-reply-threshold`, Redis runs only the
    /// commands (or subcommands) flagged `allow-busy`, and SHUTDOWN NOSAVE.
    #[cold]
    #[inline(never)]
    fn refuse_while_busy(
        &self,
        id: u16,
        spec: &CommandSpec,
        args: Args<'_>,
    ) -> Result<(), Vec<u8>> {
        let flags = self.effective_flags(id, spec, args);
        let nosave = spec.name == "shutdown"
            && args
                .iter()
                .skip(1)
                .any(|a| a.eq_ignore_ascii_case(b"nosave"));
        if flags & flag::ALLOW_BUSY != 0 && (spec.name != "shutdown" || nosave) {
            return Ok(());
        }
        match self.server.scripts.busy_error() {
            Some(e) => Err(e.as_bytes().to_vec()),
            None => Ok(()),
        }
    }

    /// An ACL refusal, for ACL LOG.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn log_denial(
        &self,
        client: &ClientCtx,
        session: &Session,
        user: &[u8],
        fullname: &str,
        denied: crate::acl::Denied,
        args: Args<'_>,
        context: &'static str,
    ) {
        use crate::acl::Denied;
        let (reason, object) = match denied {
            Denied::Command => ("command", fullname.as_bytes().to_vec()),
            Denied::Key(i) => ("key", args.get(i).to_vec()),
            Denied::Channel(i) => ("channel", args.get(i).to_vec()),
        };
        let now = kevy_sys::clock::unix_ms();
        crate::acl::log_denial(crate::acl::LogEntry {
            count: 1,
            reason,
            context,
            object,
            username: user.to_vec(),
            created_ms: now,
            updated_ms: now,
            client_info: crate::acl::client_info(client, session, fullname, now),
        });
    }

    /// Looks the command up and checks its arity, with Redis's errors.
    #[inline(always)]
    fn checked(&self, args: Args<'_>, internal: bool) -> Result<(u16, &CommandSpec), Vec<u8>> {
        let table = &self.server.table;
        let Some(id) = table.lookup_inline(args.get(0)) else {
            return self.checked_builtin(args, internal);
        };
        let spec = table.get(id);
        if !arity_ok(spec.arity, args.len()) {
            return Err(
                format!("ERR wrong number of arguments for '{}' command", spec.name).into_bytes(),
            );
        }
        Ok((id, spec))
    }

    /// A name clients cannot call: a command the server issues itself
    /// (client id 0) still runs under its own name after `rename-command`.
    #[cold]
    fn checked_builtin(
        &self,
        args: Args<'_>,
        internal: bool,
    ) -> Result<(u16, &CommandSpec), Vec<u8>> {
        let table = &self.server.table;
        match table.lookup_builtin(args.get(0)) {
            Some(id) if internal && table.has_renames() => Ok((id, table.get(id))),
            _ => Err(unknown_command(args)),
        }
    }
}

impl Kevy {
    /// Runs a command of a tracking server or a CLIENT NO-TOUCH client:
    /// the access clocks stay as they are while it runs (TOUCH excepted,
    /// unless a script of such a client runs it, as Redis judges by the
    /// calling command).
    #[cold]
    #[inline(never)]
    fn call_special(
        &self,
        f: fn(&mut Ctx<'_>),
        shard: &mut Shard,
        client: &ClientCtx,
        cmd: u16,
        args: Args<'_>,
        sink: &mut Sink<'_>,
    ) {
        let thaw = client.no_touch.then(|| {
            let touch = self.server.table.get(cmd).name == "touch";
            let was = shard.store.access.frozen();
            shard.store.access.freeze(was || !touch);
            was
        });
        if shard.track_attached || self.server.tracking.in_use() {
            crate::tracking::call(self, f, shard, client, cmd, args, sink);
        } else {
            run_handler(f, shard, client, args, sink);
        }
        if let Some(was) = thaw {
            shard.store.access.freeze(was);
        }
    }
}

impl Service for Kevy {
    type Shard = Shard;
    type Session = Session;
    type Cmd = u16;
    type Snapshot = kevy_store::Snapshot;

    fn slots(&self, nshards: usize) -> Arc<kevy_rt::SlotMap> {
        assert_eq!(
            self.server.slots.shards(),
            nshards,
            "the server's shard count"
        );
        self.server.slots.clone()
    }

    fn new_shard(&self, id: usize, nshards: usize) -> Shard {
        crate::evict::note_startup();
        let mut shard = Shard::with_slots(id, self.slots(nshards));
        shard.mem = crate::evict::ShardMem::on_this_thread();
        shard.persist = self.server.persist.clone();
        shard.rewrites = self.server.rewrites.clone();
        shard.loading = self.loads.take(id, self.aof);
        shard.server = Some(self.server.clone());
        crate::loading::started(&mut shard);
        shard
    }

    #[inline(always)]
    fn route(
        &self,
        args: Args<'_>,
        client: &ClientCtx,
        nshards: usize,
    ) -> Result<(u16, Route), Vec<u8>> {
        let (id, spec) = self.checked(args, client.id == 0)?;
        if crate::loading::in_progress() {
            self.refuse_while_loading(id, spec, args)?;
        }
        if self.server.scripts.is_busy() {
            self.refuse_while_busy(id, spec, args)?;
        }
        let route = match spec.route {
            RouteKind::Conn => Route::Conn,
            RouteKind::Keys(fold) => spec.keys_route(fold),
            RouteKind::All(fold) => Route::All(fold),
            RouteKind::Custom(f) | RouteKind::Reading { route: f, .. } => {
                f(args, client, nshards).map_err(String::into_bytes)?
            }
            RouteKind::Tx(op) => Route::Tx(op),
            RouteKind::PubSub(op) => Route::PubSub(op),
        };
        Ok((id, route))
    }

    #[inline(always)]
    fn admit_memory(&self, shard: &mut Shard, cmd: u16, in_multi: bool) -> Option<&'static [u8]> {
        // Raised only while some shard saw the server over `maxmemory`,
        // and by a change of it.
        if !crate::evict::maybe_over() {
            return None;
        }
        let denyoom = self.server.table.get(cmd).flags & flag::DENYOOM != 0;
        if !(denyoom || in_multi) {
            return None;
        }
        crate::evict::admit(shard).err().map(str::as_bytes)
    }

    fn admit_exec(
        &self,
        shard: &mut Shard,
        queued: &mut dyn Iterator<Item = u16>,
    ) -> Option<&'static [u8]> {
        if crate::evict::maxmemory() == 0 {
            return None;
        }
        let table = &self.server.table;
        for c in queued {
            if table.get(c).flags & flag::DENYOOM != 0 {
                return crate::evict::admit(shard).err().map(str::as_bytes);
            }
        }
        None
    }

    fn resolve(&self, args: Args<'_>) -> Result<(u16, InMulti), Refused> {
        let tx_op = |args: Args<'_>| {
            let id = self.server.table.lookup(args.get(0))?;
            match self.server.table.get(id).route {
                RouteKind::Tx(op) => Some(op),
                _ => None,
            }
        };
        let (id, spec) = self.checked(args, false).map_err(|msg| Refused {
            tx: tx_op(args),
            msg,
        })?;
        if crate::loading::in_progress() {
            self.refuse_while_loading(id, spec, args)
                .map_err(|msg| Refused {
                    tx: tx_op(args),
                    msg,
                })?;
        }
        let subs = self.server.table.subs(id);
        // A container that runs alone (COMMAND) names no subcommand.
        if !subs.is_empty() && args.len() > 1 {
            crate::families::common::find_sub(args, subs).map_err(|e| Refused {
                tx: None,
                msg: e.into_bytes(),
            })?;
        }
        // Redis runs these at once inside MULTI (processCommand), and
        // queues everything else; UNWATCH is queued.
        let role = match spec.route {
            RouteKind::Tx(TxOp::Unwatch) => InMulti::Queue,
            RouteKind::Tx(_) => InMulti::Run,
            _ if matches!(spec.name, "quit" | "reset") => InMulti::Run,
            // PUBLISH, SPUBLISH and PUBSUB are queued as in Redis; the
            // subscription commands are refused: Redis 7.0 queues them
            // too, but EXEC's reply then holds more replies than its
            // array counts.
            RouteKind::PubSub(PubSubOp::Publish | PubSubOp::SPublish) => InMulti::Queue,
            RouteKind::PubSub(_) => InMulti::Reject,
            _ if spec.flags & flag::NO_MULTI != 0 => InMulti::Reject,
            // A change of the rules must reach every shard's connections
            // before its reply, which a transaction's turn cannot do.
            _ if spec.name == "acl" && crate::families::acl::changes_rules(args) => InMulti::Reject,
            _ => InMulti::Queue,
        };
        Ok((id, role))
    }

    // Inlined into the runtime's execution point: the hot path of every
    // keyed command.
    #[inline(always)]
    fn exec(
        &self,
        shard: &mut Shard,
        client: &ClientCtx,
        cmd: u16,
        args: Args<'_>,
        sink: &mut Sink<'_>,
    ) {
        let spec = self.server.table.get(cmd);
        let Handler::Shard(f) = spec.run else {
            // The table routes connection handlers as `RouteKind::Conn`;
            // reaching here means an entry says otherwise.
            Reply::new(sink.out, client.resp3).error("ERR command cannot run on a shard");
            return;
        };
        let start = sink.out.len();
        let dirty = shard.store.dirty;
        if shard.prop_attached != sink.effects.enabled() {
            propagate::follow(&mut shard.store, &mut shard.prop_attached);
        }
        if sink.may_block {
            shard.may_block = true;
            shard.serving = sink.part != 0;
        }
        shard.locked = sink.locked;
        shard.may_escalate = sink.may_escalate;
        let notify = crate::notify::check_due(shard);
        if notify {
            crate::notify::prepare(shard, sink.effects.pushes.listening());
        }
        // `maxmemory`: the owner of a write's keys evicts its share first
        // (its events and DELs go out ahead of the write's).
        if spec.flags & flag::DENYOOM != 0 && crate::evict::due(shard) {
            crate::tracking::watch_writes(&self.server, shard);
            crate::evict::before_write(shard);
        }
        let t0 = cycles();
        // Client-side caching and CLIENT NO-TOUCH: one test while nobody
        // tracks.
        if shard.track_attached || client.no_touch || self.server.tracking.in_use() {
            self.call_special(f, shard, client, cmd, args, sink);
        } else {
            run_handler(f, shard, client, args, sink);
        }
        let took = cycles().wrapping_sub(t0);
        if notify {
            crate::notify::drain(shard, &mut sink.effects.pushes);
        }
        if !shard.script_pubs.is_empty() {
            script_publishes(shard, &mut sink.effects.pushes);
        }
        if sink.may_block {
            shard.may_block = false;
            shard.serving = false;
            sink.block = shard.block.take();
        }
        // A script's attempt that is undone and runs again is no call: the
        // run that answers counts.
        sink.escalate = std::mem::take(&mut shard.escalate);
        if sink.escalate {
            return;
        }
        self.account(
            shard,
            client,
            None,
            cmd,
            args,
            sink.part,
            took,
            &sink.out[start..],
        );
        // By default a write's effect is the command itself, when it changed
        // something; commands whose outcome is not a function of their
        // arguments state their own (see propagate.rs).
        if shard.prop_attached {
            let stated = shard.prop().drain_into(sink.effects);
            if !stated && shard.store.dirty != dirty {
                sink.effects.emit(client.db, args.iter());
            }
        }
        // BGREWRITEAOF's cut: here the effects recorded before it can
        // still go to the log ahead of the rewrite's point, and a switch of
        // `appendonly` turns the effects stream on or off (aof.rs).
        if shard.rewrite_cut_due {
            crate::aof::take_cut(shard, sink.effects);
        }
    }

    fn wait_keys(&self, cmd: u16, args: Args<'_>) -> std::ops::Range<usize> {
        let n = args.len();
        match self.server.table.get(cmd).name {
            "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => 1..n.saturating_sub(1),
            "brpoplpush" | "blmove" => 1..2,
            "blmpop" | "bzmpop" if n > 2 => {
                let k = kevy_store::num::parse_i64(args.get(2)).unwrap_or(0).max(0) as usize;
                3..3usize.saturating_add(k).min(n)
            }
            "xread" => crate::families::streams::wait_keys(args, false),
            "xreadgroup" => crate::families::streams::wait_keys(args, true),
            _ => 0..0,
        }
    }

    fn park_args(
        &self,
        shard: &mut Shard,
        db: u32,
        cmd: u16,
        args: Args<'_>,
    ) -> Option<kevy_resp::OwnedArgs> {
        if self.server.table.get(cmd).name != "xread" {
            return None;
        }
        crate::families::streams::park_args(&mut shard.store.db(db as usize), args)
    }

    fn wakes(&self, shard: &mut Shard, db: u32, cmd: u16, key: &[u8]) -> Wakes {
        let name = self.server.table.get(cmd).name;
        let zset = name.starts_with("bz");
        let stream = name.starts_with('x');
        let list = !zset && !stream;
        let mut store = shard.store.db(db as usize);
        let value = store.peek(key).map(|e| &e.value);
        // A group reader learns that its stream is gone (deleted, or
        // replaced by another type): it runs again and answers so.
        if name == "xreadgroup" && !matches!(value, Some(kevy_store::Value::Stream(_))) {
            return Wakes::Yes;
        }
        let (kind, filled) = match value {
            // A plain XREAD waits on, and lets a group reader behind it
            // learn that the stream went.
            None if stream => return Wakes::OtherKind,
            None => return Wakes::No,
            // Any write to a stream may serve a reader (new entries, a
            // group's position moved back, a group destroyed): the reader
            // runs again and waits on, in place, when it finds nothing.
            Some(kevy_store::Value::Stream(_)) => (stream, true),
            Some(kevy_store::Value::List(l)) => (list, !l.is_empty()),
            Some(kevy_store::Value::ZSet(z)) => (zset, !z.is_empty()),
            Some(_) => (false, true),
        };
        match (kind, filled) {
            (true, true) => Wakes::Yes,
            (true, false) => Wakes::No,
            (false, _) => Wakes::OtherKind,
        }
    }

    fn serves_ahead(&self, cmd: u16) -> bool {
        matches!(
            self.server.table.get(cmd).name,
            "blpop" | "brpop" | "blmpop" | "bzpopmin" | "bzpopmax" | "bzmpop"
        )
    }

    fn put_back(&self, cmd: u16, args: Args<'_>, reply: &[u8]) -> Option<kevy_resp::OwnedArgs> {
        match self.server.table.get(cmd).name {
            name @ ("blpop" | "brpop" | "blmpop") => {
                crate::families::lists::put_back(name, args, reply)
            }
            "bzpopmin" | "bzpopmax" | "bzmpop" => crate::families::zsets::put_back(reply),
            _ => None,
        }
    }

    fn timeout_reply(&self, cmd: u16, resp3: bool, out: &mut Vec<u8>) {
        // Redis answers every timed-out blocking command with a null
        // array, BLMOVE's included; WAIT with the replicas reached (none).
        if self.server.table.get(cmd).flags & flag::WAITS != 0 {
            Reply::new(out, resp3).int(0);
        } else {
            Reply::new(out, resp3).null_array();
        }
    }

    fn refused(&self, shard: &mut Shard, args: Args<'_>, msg: &[u8]) {
        let stats = &self.server.cmdstats;
        let table = &self.server.table;
        let cmd = if args.is_empty() {
            None
        } else {
            table.lookup(args.get(0)).map(|c| table.stat_slot(c, args))
        };
        stats.rejected(shard.id, cmd);
        stats.error_reply(shard.id, msg);
    }

    fn ran_in_runtime(&self, shard: &mut Shard, cmd: u16, error: Option<&[u8]>, started: u64) {
        let took = cycles().wrapping_sub(started);
        self.server.cmdstats.record(shard.id, cmd, 0, took);
        if let Some(msg) = error {
            self.failed(shard.id, cmd, msg);
        }
        if let Some(runs) = shard.attempt_stats.as_mut() {
            let reply = error.map(|m| [b"-", m].concat()).unwrap_or_default();
            runs.push(crate::stats::Recorded::new(cmd, 0, took, &reply));
        }
    }

    fn exec_conn(
        &self,
        shard: &mut Shard,
        client: &mut ClientCtx,
        session: &mut Session,
        cmd: u16,
        args: Args<'_>,
        out: &mut Vec<u8>,
    ) -> ConnAction {
        let spec = self.server.table.get(cmd);
        let start = out.len();
        let named = session.name.is_some();
        let t0 = cycles();
        let action = match spec.run {
            Handler::Conn(f) => {
                let resp3 = client.resp3;
                let mut ctx = ConnCtx {
                    server: &self.server,
                    shard,
                    client,
                    session,
                    args,
                    out: Reply::new(out, resp3),
                };
                f(&mut ctx)
            }
            Handler::Shard(f) => {
                let mut ctx = Ctx {
                    shard,
                    db: client.db as usize,
                    client,
                    args,
                    out: Reply::new(out, client.resp3),
                };
                f(&mut ctx);
                ConnAction::Continue
            }
        };
        let took = cycles().wrapping_sub(t0);
        if named || session.name.is_some() {
            // Keep the registry the slow log reads in step (a name set,
            // changed or dropped by CLIENT SETNAME, HELLO or RESET).
            self.server
                .set_client_name(client.id, session.name.as_deref());
        }
        let name = session.name.as_deref().unwrap_or_default();
        self.account(shard, client, Some(name), cmd, args, 0, took, &out[start..]);
        action
    }

    fn exec_clients(
        &self,
        shard: &mut Shard,
        client: &mut ClientCtx,
        session: &mut Session,
        cmd: u16,
        args: Args<'_>,
        clients: &[ClientInfo],
        out: &mut Vec<u8>,
    ) -> kevy_rt::ClientsChosen {
        let start = out.len();
        let t0 = cycles();
        let resp3 = client.resp3;
        let mut ctx = ConnCtx {
            server: &self.server,
            shard: &mut *shard,
            client: &mut *client,
            session: &mut *session,
            args,
            out: Reply::new(&mut *out, resp3),
        };
        let chosen = if self.server.table.get(cmd).name == "acl" {
            crate::families::acl::clients_with(&mut ctx, clients)
        } else {
            crate::families::connection::clients_with(&mut ctx, clients)
        };
        let took = cycles().wrapping_sub(t0);
        let name = session.name.as_deref().unwrap_or_default();
        self.account(shard, client, Some(name), cmd, args, 0, took, &out[start..]);
        chosen
    }

    fn describe(&self, session: &Session, last: Option<u16>, info: &mut ClientInfo) {
        let attr = |v: &Option<Vec<u8>>| v.clone().unwrap_or_default();
        info.name = attr(&session.name);
        info.no_evict = session.no_evict;
        info.lib_name = attr(&session.lib_name);
        info.lib_ver = attr(&session.lib_ver);
        if let Some(cmd) = last {
            info.cmd = self.server.table.get(cmd).name.to_string();
        }
        info.redirect = session.tracking_redirect.0;
        info.user = session.login.name().to_vec();
    }

    fn unauthenticated(&self, session: &Session) -> bool {
        !session.login.authenticated && crate::acl::auth_required()
    }

    fn opened(&self, client: &mut ClientCtx, session: &mut Session) -> Result<(), Vec<u8>> {
        // Protected mode refuses remote TCP peers; a Unix socket is local.
        if !client.unix && crate::acl::protected_refuses(&client.peer) {
            return Err(crate::acl::DENIED.as_bytes().to_vec());
        }
        session.login = crate::acl::Login::fresh();
        client.checked = !session.login.unchecked();
        Ok(())
    }

    /// The access check of a restricted connection (acl.rs): NOAUTH before
    /// it authenticates, NOPERM for what its user may not do.
    fn admit(
        &self,
        client: &mut ClientCtx,
        session: &mut Session,
        cmd: u16,
        args: Args<'_>,
        in_multi: bool,
    ) -> Result<(), Vec<u8>> {
        let login = &mut session.login;
        login.refresh();
        let table = &self.server.table;
        let spec = table.get(cmd);
        if !login.authenticated && crate::acl::auth_required() {
            if self.effective_flags(cmd, spec, args) & flag::NO_AUTH != 0 {
                return Ok(());
            }
            return Err(crate::acl::NOAUTH.as_bytes().to_vec());
        }
        if login.unchecked() {
            client.checked = false;
            return Ok(());
        }
        let Some(user) = login.user.as_deref() else {
            return Ok(());
        };
        let Err(denied) = crate::acl::check(user, table, cmd, args) else {
            return Ok(());
        };
        let name = user.name.clone();
        let fullname = table.slot_name(table.stat_slot(cmd, args));
        let context = if in_multi { "multi" } else { "toplevel" };
        self.log_denial(client, session, &name, fullname, denied, args, context);
        Err(crate::acl::noperm(denied, fullname).into_bytes())
    }

    fn reads_only(&self, cmd: u16) -> bool {
        let flags = self.server.table.get(cmd).flags;
        flags & flag::READONLY != 0 && flags & flag::WRITE == 0
    }

    /// MGET: its reply is its keys' values in order, whoever asks.
    fn shares(&self, _shard: &Shard, cmd: u16) -> bool {
        self.server.table.get(cmd).name == "mget" && !crate::notify::reports_misses()
    }

    /// MGET's calls, and a hit or a miss for each key of each, as its
    /// reply says (a null is a miss).
    fn shared(&self, shard: &mut Shard, cmd: u16, reply: &[u8], calls: u64) {
        for _ in 0..calls {
            self.server.cmdstats.record(shard.id, cmd, 0, 0);
        }
        let Some((_, items)) = kevy_resp::split_array(reply) else {
            return;
        };
        let misses = items
            .iter()
            .filter(|r| matches!(&reply[(*r).clone()], b"$-1\r\n" | b"_\r\n"))
            .count() as u64;
        let stats = &mut shard.store.stats;
        stats.keyspace_misses += misses * calls;
        stats.keyspace_hits += (items.len() as u64 - misses) * calls;
    }

    fn monitor_shows(&self, cmd: u16) -> bool {
        self.server.table.get(cmd).flags & (flag::ADMIN | flag::SKIP_MONITOR) == 0
    }

    fn subscribed_refusal(&self, cmd: u16, args: Args<'_>) -> Option<Vec<u8>> {
        let table = &self.server.table;
        // Redis finds an unknown subcommand, or a subcommand's wrong
        // argument count, before it looks at the subscribed mode.
        let subs = table.subs(cmd);
        if !subs.is_empty() && args.len() > 1 {
            if let Err(e) = crate::families::common::find_sub(args, subs) {
                return Some(e.into_bytes());
            }
        }
        let name = table.slot_name(table.stat_slot(cmd, args));
        crate::families::pubsub::subscribed_refusal(name)
    }

    fn pubsub_limit(&self) -> kevy_rt::OutputLimit {
        crate::settings::pubsub_limit()
    }

    fn connection_event(&self, event: kevy_rt::ConnEvent, client: &ClientCtx) {
        if !crate::log::enabled(crate::log::Level::Verbose) {
            return;
        }
        let addr = client_addr(client);
        match event {
            kevy_rt::ConnEvent::Accepted => crate::log!(Verbose, "Accepted {addr}"),
            kevy_rt::ConnEvent::IdleTimeout => crate::log!(Verbose, "Closing idle client"),
        }
    }

    fn output_limit_closed(&self, info: &ClientInfo) {
        if !crate::log::enabled(crate::log::Level::Warning) {
            return;
        }
        let mut line = String::new();
        crate::families::connection::client_line(&mut line, info, "", 0);
        crate::log!(
            Warning,
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            line.trim_end()
        );
    }

    fn closed(&self, _shard: &mut Shard, client: &ClientCtx, session: &mut Session) {
        if crate::log::enabled(crate::log::Level::Verbose) {
            crate::log!(
                Verbose,
                "Client closed connection id={} addr={}",
                client.id,
                client_addr(client)
            );
        }
        if session.name.is_some() {
            self.server.set_client_name(client.id, None);
        }
        if session.tracked {
            let mut c = *client;
            crate::tracking::closed(&self.server, &mut c, session);
        }
    }

    fn tracking_redirect(&self, session: &Session) -> (u64, u32) {
        session.tracking_redirect
    }

    fn metrics(&self, _shard: &mut Shard) -> Vec<u8> {
        crate::metrics::render(&self.server)
    }

    /// Redis's `getCommandFlags`: a script may write unless its shebang
    /// (or its function's flags) says `no-writes`.
    fn pause_holds(&self, cmd: u16, args: Args<'_>) -> bool {
        use crate::scripting::{engine, flags, sha_key};
        let spec = self.server.table.get(cmd);
        if spec.flags & (flag::WRITE | flag::MAY_REPLICATE) != 0 {
            return true;
        }
        let no_writes = |f: u32| f & flags::NO_WRITES != 0;
        let scripts = &self.server.scripts;
        match spec.name {
            "eval" | "evalsha" if args.len() > 1 => {
                let body = if spec.name == "eval" {
                    Some(args.get(1).into())
                } else {
                    sha_key(args.get(1)).and_then(|k| scripts.body(&k))
                };
                !body.is_some_and(|b| matches!(engine::shebang(&b), Ok((f, _)) if no_writes(f)))
            }
            "fcall" if args.len() > 1 => {
                let libs = scripts.lock_libraries();
                let name = args.get(1);
                let f = libs.funcs.get(name).and_then(|lib| {
                    libs.libs
                        .get(lib)?
                        .functions
                        .iter()
                        .find(|f| f.name == name)
                        .map(|f| f.flags)
                });
                !f.is_some_and(no_writes)
            }
            _ => false,
        }
    }

    fn keeps_caching(&self, args: Args<'_>) -> bool {
        !args.is_empty() && args.get(0).eq_ignore_ascii_case(b"client")
    }

    fn track_read(&self, shard: &mut Shard, client: u64, home: u32, key: &[u8]) {
        crate::tracking::track_read(&self.server, shard, client, home, key);
    }

    fn flush_pushes(&self, shard: &mut Shard, effects: &mut Effects) {
        if shard.track_attached {
            crate::tracking::flush_pushes(&self.server, shard, effects);
        }
    }

    fn begin_iteration(&self, shard: &mut Shard) {
        if shard.loading.is_some() {
            // The clock stays stopped until the load is complete.
            crate::notify::quiet(shard, |shard| crate::loading::step(self, shard));
            if shard.loading.is_some() {
                return;
            }
        }
        shard.store.set_now(kevy_sys::clock::unix_ms());
        crate::evict::follow_policy(shard);
    }

    #[inline(always)]
    fn reaches_undeclared(&self, cmd: u16) -> bool {
        crate::scripting::is_script(self.server.table.get(cmd))
    }

    fn blocking(&self, cmd: u16) -> bool {
        self.server.table.get(cmd).flags & (flag::BLOCKING | flag::WAITS) != 0
    }

    fn reaches_other_dbs(&self, cmd: u16) -> bool {
        self.server.table.get(cmd).flags & flag::OTHER_DBS != 0
    }

    #[inline(always)]
    fn runs_long(&self, cmd: u16) -> bool {
        self.server.table.get(cmd).flags & flag::RUNS_SCRIPT != 0
    }

    #[inline(always)]
    fn worth_prefetching(&self, shard: &Shard, db: usize) -> bool {
        shard.store.worth_prefetching(db)
    }

    #[inline(always)]
    fn prefetch_nodes<'k>(
        &self,
        shard: &Shard,
        db: usize,
        keys: impl Iterator<Item = &'k [u8]>,
        marks: &mut [u64; 16],
    ) -> usize {
        shard
            .store
            .prefetch_nodes(db, keys, kevy_sys::hint::prefetch, marks)
    }

    #[inline(always)]
    fn prefetch_values(&self, shard: &Shard, db: usize, marks: &[u64]) {
        shard
            .store
            .prefetch_values(db, marks, kevy_sys::hint::prefetch);
    }

    #[inline(always)]
    fn runs_apart(&self, cmd: u16) -> bool {
        self.server.table.get(cmd).flags & (flag::RUNS_SCRIPT | flag::BLOCKING | flag::WAITS) != 0
    }

    /// While a script is busy, `route` lets through only what Redis runs
    /// then (`refuse_while_busy`). Of that, what touches nothing but the
    /// server's script state and the connection runs now, as in Redis:
    /// SCRIPT KILL, FUNCTION KILL and STATS, SHUTDOWN NOSAVE, AUTH, HELLO
    /// and QUIT. RESET, MULTI, DISCARD, WATCH and UNWATCH change what the
    /// runtime keeps for the connection (its queue, its watches on every
    /// shard), so they wait for the script to end.
    fn exec_while_busy(
        &self,
        shard: &mut Shard,
        client: &mut ClientCtx,
        session: &mut Session,
        cmd: u16,
        args: Args<'_>,
        out: &mut Vec<u8>,
    ) -> Option<ConnAction> {
        let spec = self.server.table.get(cmd);
        let now = matches!(
            spec.name,
            "script" | "function" | "shutdown" | "auth" | "hello" | "quit"
        );
        // Checked again here: no other SCRIPT or FUNCTION subcommand may
        // run while the script's engine is in use.
        if !now || self.effective_flags(cmd, spec, args) & flag::ALLOW_BUSY == 0 {
            return None;
        }
        Some(self.exec_conn(shard, client, session, cmd, args, out))
    }

    fn background(&self, shard: &Shard) -> bool {
        shard.snapshot.is_some() || shard.aof.as_ref().is_some_and(|l| l.rewriting())
    }

    fn busy(&self, shard: &Shard) -> bool {
        shard.loading.is_some()
    }

    fn wants_effects(&self) -> bool {
        self.aof
    }

    fn stopping(&self, shard: &mut Shard, effects: &mut Effects) {
        if let Some(log) = shard.aof.as_mut() {
            log.close(effects);
        }
    }

    fn end_iteration(&self, shard: &mut Shard, effects: &mut Effects) {
        if crate::evict::maxmemory() != 0 {
            if crate::evict::in_debt(shard) {
                if crate::notify::check_due(shard) {
                    crate::notify::prepare(shard, effects.pushes.listening());
                }
                crate::evict::pay_debt(shard);
            }
            crate::evict::publish(shard);
        }
        // Effects recorded by no keyed command (FUNCTION LOAD on the
        // connection's thread) reach the log before this iteration's
        // replies leave, like every other effect.
        if shard.prop_attached {
            shard.prop().drain_into(effects);
        }
        // Events of no command's (a key found expired while copied out).
        crate::notify::drain(shard, &mut effects.pushes);
        if let Some(log) = shard.aof.as_mut() {
            log.persist(effects);
        } else {
            crate::aof::drop_unlogged(shard, effects);
        }
        if shard.snapshot.is_some() {
            persist::step_snapshot(shard, persist::STEP_KEYS);
        }
        crate::aof::step_rewrite(shard, persist::STEP_KEYS);
        shard.publish(&self.server.published[shard.id]);
        crate::aof::publish(shard, &self.server.published[shard.id]);
    }

    fn tick(&self, shard: &mut Shard, effects: &mut Effects) {
        if shard.id == 0 {
            self.server.sample_rates();
        }
        if shard.loading.is_none() {
            if crate::notify::check_due(shard) {
                crate::notify::prepare(shard, effects.pushes.listening());
            }
            shard.store.set_now(kevy_sys::clock::unix_ms());
            crate::tracking::watch_writes(&self.server, shard);
            if shard.active_expire {
                let t0 = std::time::Instant::now();
                shard.store.active_expire_cycle(t0 + EXPIRE_CYCLE_BUDGET);
                let took = t0.elapsed();
                EXPIRE_CYCLE_US.fetch_add(
                    took.as_micros() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                let ms = took.as_millis() as u64;
                if ms > 0 {
                    self.server.latency.add_if_needed("expire-cycle", ms);
                }
            }
            crate::evict::tick(shard);
            crate::notify::drain(shard, &mut effects.pushes);
        }
        crate::tracking::tick(&self.server, shard, effects);
        crate::aof::follow_wanted(shard, effects);
        if shard.prop_attached {
            shard.prop().drain_into(effects);
        }
        if shard.snapshot.is_some() {
            persist::step_snapshot(shard, persist::TICK_KEYS);
        }
        crate::aof::step_rewrite(shard, persist::TICK_KEYS);
        shard.publish(&self.server.published[shard.id]);
        crate::aof::publish(shard, &self.server.published[shard.id]);
    }

    fn internal_command(&self, shard: &mut Shard) -> Option<OwnedArgs> {
        if crate::loading::in_progress() {
            return None;
        }
        if crate::aof::fence_due(shard) {
            return Some(OwnedArgs::from_slices([b"BGREWRITEAOF"]));
        }
        if shard.id != 0 {
            return None;
        }
        let now = kevy_sys::clock::unix_ms();
        let points = crate::settings::current("save").unwrap_or_default();
        if !points.is_empty() {
            let p = &self.server.persist;
            let dirty = self.server.sum_published(|s| &s.dirty);
            let changes =
                dirty.saturating_sub(p.saved_dirty.load(std::sync::atomic::Ordering::Relaxed));
            if persist::save_point_due(p, &points, changes, now) {
                crate::log!(
                    Notice,
                    "{changes} changes since the last save; saving (save point)"
                );
                return Some(OwnedArgs::from_slices([b"BGSAVE"]));
            }
        }
        if self.server.rewrites.switch_due(shard.nshards, now) {
            return Some(OwnedArgs::from_slices([b"BGREWRITEAOF"]));
        }
        if self
            .server
            .rewrites
            .enabled
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let current = self.server.sum_published(|s| &s.aof_current_size);
            let base = self.server.sum_published(|s| &s.aof_base_size);
            if self.server.rewrites.auto_due(current, base, now) {
                crate::log!(
                    Notice,
                    "starting automatic rewriting of AOF on {}% growth",
                    (current as u128 * 100 / base.max(1) as u128).saturating_sub(100)
                );
                return Some(OwnedArgs::from_slices([b"BGREWRITEAOF"]));
            }
        }
        None
    }

    /// SIGINT and SIGTERM run SHUTDOWN, which saves first when save points
    /// are configured (as Redis does); without them the server stops at once.
    fn stop_command(&self, _shard: &mut Shard) -> Option<OwnedArgs> {
        crate::log!(Warning, "Received SIGINT or SIGTERM scheduling shutdown...");
        // A partial dataset is never saved over the file being loaded.
        if crate::loading::in_progress() {
            return None;
        }
        let points = crate::settings::current("save")?;
        (!points.is_empty()).then(|| OwnedArgs::from_slices([b"SHUTDOWN"]))
    }

    fn export(&self, shard: &mut Shard, key: &[u8]) -> kevy_store::Snapshot {
        shard.store.export(key)
    }

    fn prepare_slots(&self, shard: &mut Shard, slots: &kevy_rt::SlotSet, budget: usize) -> bool {
        crate::slot_scan::prepare(shard, slots, budget)
    }

    fn abandon_slots(&self, shard: &mut Shard) {
        crate::slot_scan::abandon(shard);
    }

    fn may_move_slots(&self, shard: &Shard, slots: &kevy_rt::SlotSet) -> bool {
        // The append-only log holds each shard's keys in the layout the
        // server starts with (wanted from CONFIG SET or the start,
        // enabled until every shard closed it), and a snapshot being
        // written (on any shard) reads each shard's keys as they were
        // when it began: slots move while neither is there, no snapshot
        // loads, and no client WATCHes one of their keys (its
        // registration stays here).
        use std::sync::atomic::Ordering::Relaxed;
        let (rewrites, persist) = (&self.server.rewrites, &self.server.persist);
        // Under `maxmemory`, only a hot slot moves, not a shard's slots
        // in bulk: eviction's accounting follows memory by the thread
        // that allocated it, and a bulk hand-over moves a shard's memory
        // to another faster than that follows (the server went 30-60 MB
        // over a 64 MB limit while a starved shard handed its keys over).
        let bulk_ok = slots.len() == 1 || crate::evict::maxmemory() == 0;
        bulk_ok
            && !rewrites.wanted.load(Relaxed)
            && !rewrites.enabled.load(Relaxed)
            && !persist.in_progress.load(Relaxed)
            && shard.snapshot.is_none()
            && shard.loading.is_none()
            && !shard.store.watches_any(|k| slots.holds_key(k))
    }

    fn take_slots(
        &self,
        shard: &mut Shard,
        effects: &mut Effects,
        slots: &kevy_rt::SlotSet,
    ) -> Vec<(Vec<u8>, kevy_store::Snapshot)> {
        let names = crate::slot_scan::take_names(shard, slots);
        // Not events, nor writes for prefix followers: the keys live on,
        // on another shard.
        let keys: Vec<(Vec<u8>, kevy_store::Snapshot)> = crate::notify::quiet(shard, |s| {
            crate::tracking::moving(s, |s| {
                names
                    .into_iter()
                    .filter_map(|k| {
                        let snap = s.store.take(&k);
                        s.count_moved(&snap, true);
                        (!snap.is_empty()).then_some((k, snap))
                    })
                    .collect()
            })
        });
        // Clients that track the keys hear they changed: their next
        // reads go to the new owner, which tracks them there.
        crate::tracking::slots_leave(shard, slots);
        crate::tracking::drain_into(shard, effects);
        keys
    }

    fn key_count(&self, shard: &Shard) -> usize {
        shard.store.key_count()
    }

    fn scratch(&self, home: usize, nshards: usize) -> Shard {
        let mut s = Shard::with_slots(home, self.slots(nshards));
        s.server = Some(self.server.clone());
        s.scratch = true;
        s.loaded_counts = vec![(0, 0); s.store.ndbs()];
        // Records the keys its command writes (see `load` and `take_dirty`).
        s.store.track_dirty(true);
        s.store.set_now(kevy_sys::clock::unix_ms());
        s
    }

    fn reset_scratch(&self, s: &mut Shard) -> bool {
        // Only what a command run by copy changes: its keys (dropped, so
        // nothing large is kept), the written-key record and the flags of
        // a run; the rest is as `scratch` made it.
        s.store.track_dirty(false);
        for db in 0..s.store.ndbs() {
            if s.store.db_counts(db).0 > 0 {
                crate::notify::quiet(s, |s| s.store.db(db).flush());
            }
        }
        s.store.track_dirty(true);
        s.store.set_now(kevy_sys::clock::unix_ms());
        if s.prop_attached {
            s.prop().truncate((0, 0));
        }
        s.loaded_counts.fill((0, 0));
        s.escalation = None;
        s.script_reads.clear();
        s.script_pubs.clear();
        s.may_block = false;
        s.block = None;
        s.locked = false;
        s.may_escalate = false;
        s.escalate = false;
        true
    }

    fn load(&self, scratch: &mut Shard, key: &[u8], snap: kevy_store::Snapshot) {
        // A name's stand-in never replaces a copy, and is no copy: a
        // command that reaches its key has it copied first.
        let stub = snap.names_only;
        if stub
            && scratch
                .escalation
                .as_ref()
                .is_some_and(|e| e.copied.contains(key))
        {
            return;
        }
        // Loading is not a write of the command's: pause the record, and
        // restart it empty (track_dirty(true) clears it).
        scratch.store.track_dirty(false);
        let before: Vec<_> = (0..scratch.store.ndbs())
            .map(|db| scratch.store.db_counts(db))
            .collect();
        crate::notify::quiet(scratch, |s| s.store.import(key, snap));
        for (db, (k, e)) in before.into_iter().enumerate() {
            // What the copies hold, apart from what the command does to
            // them (INFO keyspace from a script).
            let (k2, e2) = scratch.store.db_counts(db);
            let c = &mut scratch.loaded_counts[db];
            c.0 = (c.0 + k2).wrapping_sub(k);
            c.1 = (c.1 + e2).wrapping_sub(e);
        }
        scratch.store.track_dirty(true);
        if let Some(e) = scratch.escalation.as_mut().filter(|_| !stub) {
            e.copied.insert(key.to_vec());
        }
    }

    fn begin_attempt(&self, shard: &mut Shard) {
        shard.store.observe(kevy_store::journal::Journal::default());
        shard.attempt_stats = Some(Vec::new());
    }

    fn end_attempt(&self, shard: &mut Shard, undo: bool) {
        let runs = shard.attempt_stats.take();
        if let (true, Some(runs)) = (undo, runs) {
            // The block runs again; that run is the one commandstats counts.
            for r in &runs {
                self.server.cmdstats.unrecord(shard.id, r);
            }
        }
        let Some(journal) = shard.store.unobserve::<kevy_store::journal::Journal>() else {
            return;
        };
        if undo {
            // The attempt's keyspace events are cut back with its effects;
            // taking it back makes none.
            crate::notify::discard(shard);
            crate::notify::quiet(shard, |s| s.store.roll_back(journal));
        }
    }

    fn copy_names(&self, scratch: &mut Shard) -> bool {
        crate::scripting::wants_names(scratch)
    }

    fn export_names(&self, shard: &mut Shard) -> Vec<(Vec<u8>, kevy_store::Snapshot)> {
        shard.store.export_names()
    }

    fn take_dirty(&self, scratch: &mut Shard) -> Vec<(Vec<u8>, kevy_store::Snapshot)> {
        let keys = scratch.store.take_dirty();
        keys.into_iter()
            .map(|k| {
                let snap = scratch.store.export(&k);
                (k, snap)
            })
            .collect()
    }

    fn take_written(&self, scratch: &mut Shard) -> Vec<Vec<u8>> {
        scratch.store.take_dirty()
    }

    fn import(
        &self,
        shard: &mut Shard,
        effects: &mut Effects,
        key: &[u8],
        snap: kevy_store::Snapshot,
        log: bool,
    ) {
        if effects.enabled() {
            // A key found expired when copied out was deleted then: its
            // DEL goes first.
            if shard.prop_attached {
                shard.prop().drain_into(effects);
            }
            if log {
                propagate::import_effects(shard, effects, key, &snap);
            }
        }
        // The command run by copy made the events of this write.
        crate::notify::drain(shard, &mut effects.pushes);
        crate::tracking::watch_writes(&self.server, shard);
        crate::notify::quiet(shard, |s| s.store.import(key, snap));
        crate::tracking::drain_into(shard, effects);
    }

    fn import_moved(
        &self,
        shard: &mut Shard,
        effects: &mut Effects,
        key: &[u8],
        snap: kevy_store::Snapshot,
    ) {
        shard.count_moved(&snap, false);
        crate::notify::quiet(shard, |s| {
            crate::tracking::moving(s, |s| s.store.import(key, snap))
        });
        crate::tracking::drain_into(shard, effects);
    }

    fn log_share(&self, shard: &mut Shard, effects: &mut Effects, share: &kevy_rt::Share) {
        if effects.enabled() && shard.prop_attached {
            shard.prop().drain_into(effects);
        }
        effects.emit_share(share);
    }

    fn effect_route(&self, args: Args<'_>) -> Option<Route> {
        // Effects name commands as the log replays them (`Kevy::replay`).
        let id = self.server.table.lookup_builtin(args.get(0))?;
        let spec = self.server.table.get(id);
        if !arity_ok(spec.arity, args.len()) || crate::scripting::is_script(spec) {
            return None;
        }
        match spec.route {
            RouteKind::Keys(fold) => Some(spec.keys_route(fold)),
            // Routed as among several shards, where SORT's BY and GET
            // patterns route over the whole keyspace.
            RouteKind::Custom(f) | RouteKind::Reading { route: f, .. } => {
                f(args, &ClientCtx::internal(0, 0, 0), 2).ok()
            }
            _ => None,
        }
    }

    fn copy_keys(
        &self,
        scratch: &mut Shard,
        client: &ClientCtx,
        cmd: u16,
        args: Args<'_>,
    ) -> Vec<Vec<u8>> {
        let spec = self.server.table.get(cmd);
        match spec.route {
            RouteKind::Reading { keys, .. } => {
                keys(&mut scratch.store.db(client.db as usize), args)
            }
            // A script run again over the whole keyspace: its keys are
            // those a run on the copies so far reaches.
            _ if crate::scripting::is_script(spec) => {
                crate::scripting::discover(scratch, client, spec, args)
            }
            _ => Vec::new(),
        }
    }

    fn watch(&self, shard: &mut Shard, client: u64, db: u32, key: &[u8]) {
        shard.store.watch(client, db as usize, key);
    }

    fn unwatch(&self, shard: &mut Shard, client: u64) {
        shard.store.unwatch(client);
    }

    fn watch_changed(&self, shard: &mut Shard, client: u64) -> bool {
        shard.store.watch_changed(client)
    }
}

/// A client's address as Redis's log and CLIENT LIST write it.
fn client_addr(client: &ClientCtx) -> String {
    if client.unix {
        format!(
            "{}:0",
            crate::settings::current("unixsocket").unwrap_or_default()
        )
    } else {
        client.peer.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_resp::OwnedArgs;

    #[test]
    fn unknown_command_matches_redis() {
        let a = OwnedArgs::from_slices(["foo", "a", "b"]);
        assert_eq!(
            unknown_command(a.args()),
            b"ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        let a = OwnedArgs::from_slices(["foo"]);
        assert_eq!(
            unknown_command(a.args()),
            b"ERR unknown command 'foo', with args beginning with: "
        );
        let a = OwnedArgs::from_slices([&b"x"[..], &b"\xff\xfe"[..]]);
        assert_eq!(
            unknown_command(a.args()),
            b"ERR unknown command 'x', with args beginning with: '\xff\xfe' "
        );
    }
}
