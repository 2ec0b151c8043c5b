//! The append-only log as the server runs it (`appendonly yes`), on top of
//! kevy-persist's per-shard log ([`kevy_persist::aof`]).
//!
//! # What each shard does
//!
//! Every shard records its effects (the runtime's effects stream, see
//! kevy-rt's crate doc, "Durability"). At the end of each loop iteration,
//! before any reply or message of that iteration leaves the shard, the
//! shard appends them to its log ([`ShardLog::persist`]): effects outside
//! cross-shard transactions as one record, a transaction's effects as
//! records tagged with its id, and, on the coordinating shard, the
//! transaction's decision as a commit record. Then one `write`; under
//! `appendfsync always` one `fdatasync` on the shard's thread, as Redis
//! does it in its event loop: every client whose command ran in that
//! iteration shares it (group commit), and nothing the iteration produced
//! is seen by anyone before it is on disk. Under `everysec` the log's
//! thread fsyncs once a second; under `no`, never.
//!
//! # Start-up
//!
//! [`boot`] reads every shard's files, decides which transactions
//! committed (their decision is in their coordinator's log), cuts torn
//! tails, and opens each shard's log for appending; each shard then
//! replays its own files into its store on its own thread
//! ([`replay_shard`]), with the clock stopped so that nothing expires
//! while loading (every expiry the shard applied is in the log as a
//! `DEL`). A transaction whose decision is missing is skipped on every
//! shard. When the files were written with another shard count, the old
//! shards are replayed on this thread first and written out as one RDB
//! base per new shard in a fresh directory that replaces the old one with
//! a rename, so a crash during the conversion leaves one complete set.
//!
//! # Rewriting without fork (BGREWRITEAOF)
//!
//! BGREWRITEAOF is a whole-keyspace command (`RouteKind::All(Fold::Agree)`,
//! as BGSAVE): its part on each shard runs while that shard is locked
//! whole, and the part is the shard's *cut* ([`take_cut`], run by the
//! command's execution right after the handler, where the effects the
//! iteration recorded before it can still be appended ahead of the cut).
//! At the cut the shard appends what it has, switches its log to a new
//! incr file ([`kevy_persist::aof::begin_rewrite`]; the switch is the
//! rewrite's *point*) and starts a fork-less
//! [`kevy_persist::rdb::Snapshot`] of its store as a whole RDB file (header,
//! section, trailer), stepped from the shard's loop ([`step_rewrite`]) as
//! BGSAVE steps its sections. Once complete, a thread copies it into the
//! new base and swaps the manifest (`Rewrite::write_base`,
//! `Rewrite::install`). Each shard installs on its own.
//!
//! **What a base holds.** A cross-shard transaction `T` holds its locks on
//! each participant until its coordinator recorded its decision (and, the
//! unlocks leaving after the coordinator's log, logged it). A whole-shard
//! lock waits for them, so at a shard's cut every transaction with effects
//! there is decided and logged, and a transaction that takes locks after
//! the cut runs wholly after it. The base therefore holds whole decided
//! parts only, and never a part whose decision is later dropped.
//!
//! **Why decisions are still carried.** One might conclude that no decision
//! needs keeping across a rewrite, since every base holds decided state
//! only. Two things break that: the shards install one after another (a
//! crash can fall between two manifest swaps), and one shard's rewrite can
//! fail while another's succeeds. In either case a shard whose old files
//! still hold `T`'s effects, which recovery replays only with `T`'s
//! decision, meets a coordinator whose new base dropped that decision, and
//! `T` would be applied on some shards and not on others. So each shard
//! carries to the head of its new incr file the decisions of the files it
//! replaces, and stops carrying them at the next rewrite once the one that
//! carried them installed on every shard: then every shard's effects of
//! those transactions are inside a base and need no decision. The cost is
//! one small record per cross-shard transaction since the previous rewrite.
//!
//! **Why installs wait for a sync on every shard.** A decision may fall
//! after its coordinator's cut while the effects fall before the
//! participants' (the coordinator need not lock anything of its own, so its
//! part can run first); and under `everysec` or `no` a decision may be only
//! written, or still buffered, when a participant's cut takes its effects
//! into a base. Recovery must still find it, or a participant that has not
//! installed would drop `T` while another's base keeps it. So once every
//! shard took its cut, each shard writes and fsyncs its log (one
//! `sync_now` per rewrite on the shard's thread): every decision recorded
//! before any cut is then durable; and no shard installs before every
//! shard did so. A shard whose part failed still takes part in that sync.
//!
//! **Crashes.** The kevy-persist sequence keeps every crash point loadable
//! (the old files plus the new incr file until the swap, the base plus
//! the new incr file after it). The snapshot's temp file is named like the
//! log's own temp files, which opening the log removes.
//!
//! # Turning the log on and off (CONFIG SET appendonly)
//!
//! `CONFIG SET appendonly` answers at once (as Redis) and records what is
//! wanted ([`Rewrites::wanted`]); the shards follow through BGREWRITEAOF
//! commands the server issues itself ([`rewrite_part`] with the issuing
//! shard), so that a switch happens at one moment of the whole keyspace,
//! for the reason BGREWRITEAOF's cuts do.
//!
//! **On.** The switch is the rewrite's cut: each shard opens its log, turns
//! its effects stream on and takes its cut in one part ([`take_cut`]); the
//! base holds everything before the cuts, the log everything after. The
//! hard case is a cross-shard transaction: it is logged (tagged, decided)
//! only when its coordinator's effects stream is on when it *starts*
//! (kevy-rt, `Coordinator::start`). One that started untagged before the
//! switch and took its locks after the cut would be logged as plain effects
//! on each shard, and a crash between two shards' writes would keep half of
//! it. The cut's locks do not exclude that: such a transaction may hold no
//! lock yet when the cut passes (its first lock request waits in a ring, or
//! behind the cut in a lock queue). So the switch comes in two steps:
//!
//! 1. Each shard, from its tick, turns its effects stream on while it still
//!    has no log ([`follow_wanted`]; what it records is dropped at the end
//!    of each iteration, [`drop_unlogged`]): every transaction it
//!    coordinates from then on is tagged. Then it issues a *fence*: a
//!    whole-keyspace BGREWRITEAOF that does nothing ([`fence_due`]). The
//!    fence's lock request on each shard `f` leaves on the ring from the
//!    issuer to `f` behind the first lock request of every transaction the
//!    issuer started before (rings and lock queues are FIFO), and a
//!    transaction holds its first lock until it finishes; so when the
//!    fence's parts all ran, every untagged transaction that shard
//!    coordinated has finished.
//! 2. Once every shard's fence completed, shard 0 issues the switch: now
//!    every transaction still running is tagged, and the cut orders it
//!    whole before it (in the base) or after it (logged with its
//!    decision, whose coordinator's log is open by then: the switch holds
//!    every shard until its last part).
//!
//! Files already in `appenddirname` (an earlier run's, or an earlier
//! switch-on's) are removed before the first log opens (`open_fresh`):
//! their history is not this server's data, and recovery would replay it
//! ahead of the new one; the new base holds everything anyway. Until the
//! first rewrite installs, the files hold only what followed the cut (as
//! in Redis, the log is complete once that rewrite is done).
//!
//! **Off.** Once no rewrite runs, each shard's part writes and fsyncs what
//! it has, closes its log and turns its effects stream off. A transaction
//! is whole before the cuts (logged, decided before its unlocks) or after
//! them (not logged); one decided after its coordinator's cut is dropped
//! whole by recovery, and its answer left after `CONFIG SET` did.
//!
//! The server's commands all run as one client, whose whole-shard locks do
//! not exclude each other, so parts of two of them may interleave: see
//! `Switch` for how the parts are counted.

use crate::service::Kevy;
use crate::shard::Shard;
use kevy_persist::aof::{self, Fsync, Layout, LoadOptions, Log, Recovered, Replay, TxId};
use kevy_persist::rdb;
use kevy_rt::{Effects, Record};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering, Ordering::Relaxed};
use std::sync::Arc;

/// One shard's log while the server runs.
pub struct ShardLog {
    log: Log,
    layout: Layout,
    /// This boot's transaction epoch (the files' highest, plus one).
    epoch: u64,
    /// `aof_last_write_status`: false after a failed write or fsync.
    pub ok: bool,
    /// The server's rewrite state, shared by the shards.
    pub rewrites: Arc<Rewrites>,
    /// This shard's part of a rewrite in progress.
    rewriting: Option<ShardRewrite>,
    /// The rewrite whose cut [`take_cut`] takes next.
    cut_gen: u64,
    /// How many decisions the last rewrite carried to the head of the
    /// current incr file, and that rewrite's generation (0: none known,
    /// carry everything).
    carried: usize,
    carried_gen: u64,
    /// The files held `size_origin` bytes when the log's logical position
    /// was `pos_origin` (at start-up, then at each installed base): the
    /// current size follows from the position.
    size_origin: u64,
    pos_origin: u64,
    /// `aof_base_size`: the size at start-up or of the last base.
    base_size: u64,
    /// A switch of `appendonly` this shard's next cut carries out: `true`
    /// starts recording effects, `false` closes the log.
    switching: Option<bool>,
}

/// `appendfsync` in force (0 `always`, 1 `everysec`, 2 `no`), which every
/// shard's log follows from its next iteration (CONFIG SET).
static FSYNC: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);

/// Sets `appendfsync` for every shard's log.
pub fn set_fsync(value: &str) {
    let v = match value {
        "always" => 0,
        "no" => 2,
        _ => 1,
    };
    FSYNC.store(v, Relaxed);
}

fn fsync_in_force() -> Fsync {
    match FSYNC.load(Relaxed) {
        0 => Fsync::Always,
        2 => Fsync::No,
        _ => Fsync::Everysec,
    }
}

impl ShardLog {
    /// Appends what the shard did this iteration and makes it as durable
    /// as the policy says, before the iteration's replies leave.
    pub fn persist(&mut self, effects: &mut Effects) {
        let policy = fsync_in_force();
        if policy != self.log.policy() {
            self.log.set_policy(policy);
        }
        let appended = self.append(effects);
        let log = &mut self.log;
        if log.appended() == log.written() && appended.is_ok() {
            return;
        }
        let done = appended.and_then(|tx| {
            // A transaction's part or decision is never left in memory
            // behind a running fsync (`everysec` may postpone plain
            // effects): the answer that leaves after this iteration lets
            // another shard decide or unlock.
            if tx {
                log.flush_now()?;
            } else {
                log.flush()?;
            }
            if log.policy() == Fsync::Always {
                log.sync_now()?;
            }
            Ok(())
        });
        if let Err(e) = done {
            if self.ok {
                crate::log!(Warning, "writing the append-only log failed: {e}");
            }
            self.ok = false;
        }
    }

    /// Appends the records collected so far to the log's buffer (written
    /// by the next flush or file switch); whether they hold a transaction's
    /// part or decision.
    fn append(&mut self, effects: &mut Effects) -> std::io::Result<bool> {
        let epoch = self.epoch;
        let log = &mut self.log;
        let mut failed = None;
        let mut tx = false;
        let id = |coord: u32, seq: u64| TxId {
            epoch,
            coordinator: coord,
            counter: seq,
        };
        effects.take_records(|r| {
            let done = match r {
                Record::Effects(resp) => log.append_effects(resp),
                Record::TxEffects(t, resp) => {
                    tx = true;
                    log.append_tx_effects(id(t.coord, t.seq), resp)
                }
                Record::Commit(t) => {
                    tx = true;
                    log.append_tx_commit(id(t.coord, t.seq), &[t.coord])
                }
            };
            if let Err(e) = done {
                failed = Some(e);
            }
        });
        failed.map_or(Ok(tx), Err)
    }

    /// Whether this shard's part of a rewrite is in progress.
    pub fn rewriting(&self) -> bool {
        self.rewriting.is_some()
    }

    /// Bytes of this shard's base and incr files (INFO `aof_current_size`).
    pub fn current_size(&self) -> u64 {
        self.size_origin + self.log.appended().saturating_sub(self.pos_origin)
    }

    /// Writes and fsyncs everything (orderly shutdown).
    pub fn close(&mut self, effects: &mut Effects) {
        self.persist(effects);
        if let Err(e) = self.log.sync_now() {
            crate::log!(Warning, "fsync of the append-only log failed: {e}");
        }
    }

    /// Bytes appended since start-up (INFO `aof_current_size` growth).
    pub fn appended(&self) -> u64 {
        self.log.appended()
    }
}

/// What start-up found: the files to replay and each shard's log.
pub struct Boot {
    pub recovered: Arc<Recovered>,
    logs: std::sync::Mutex<Vec<Option<Log>>>,
    epoch: u64,
    layout: Layout,
    rewrites: Arc<Rewrites>,
}

/// A file in the log's directory that says its shards' files hold keys
/// in another layout than the one a server starts with: hash slots had
/// moved between shards when the log was turned on (kevy-rt's crate doc,
/// "Moving slots to the cores that have time"). Slots do not move while
/// the log is on, so one layout holds for every file of the directory.
const MOVED_SLOTS: &str = "kevy-moved-slots";

/// The log's settings, when `appendonly` is on.
pub fn layout() -> Option<(Layout, Fsync)> {
    let on = crate::settings::current("appendonly")?;
    if on != "yes" {
        return None;
    }
    let dirname = crate::settings::current("appenddirname").unwrap_or("appendonlydir".into());
    let name = crate::settings::current("appendfilename").unwrap_or("appendonly.aof".into());
    let policy = match crate::settings::current("appendfsync").as_deref() {
        Some("always") => Fsync::Always,
        Some("no") => Fsync::No,
        _ => Fsync::Everysec,
    };
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    Some((Layout::new(dir.join(dirname), name), policy))
}

/// Reads the log files for `n` shards (converting them when they were
/// written for another count), cuts what a crash left unfinished, and
/// opens each shard's log. `None` when `appendonly` is off.
pub fn boot(kevy: &Kevy, n: usize) -> Result<Option<Boot>, String> {
    let Some((layout, policy)) = layout() else {
        return Ok(None);
    };
    finish_conversion(&layout.dir).map_err(|e| format!("{}: {e}", layout.dir.display()))?;
    let load = |l: &Layout| {
        // A damaged record in the middle of a file stops the load unless
        // the operator asks to load up to it (kevy's `aof-load-corrupt`).
        let opts = LoadOptions {
            allow_corrupt: crate::settings::current("aof-load-corrupt").as_deref() == Some("yes"),
        };
        aof::recover(l, opts).map_err(|e| format!("{}: {e}", l.dir.display()))
    };
    let mut recovered = load(&layout)?;
    // Files whose shards hold keys of slots that had moved (the log was
    // turned on while they were away) are converted like files of
    // another shard count: every key goes where this server starts its
    // slot.
    let moved = layout.dir.join(MOVED_SLOTS).exists();
    if recovered.shards() != 0 && (recovered.shards() != n || moved) {
        convert(kevy, &layout, &recovered, n)?;
        recovered = load(&layout)?;
    }
    for note in &recovered.notes {
        crate::log!(Notice, "append-only log: {note}");
    }
    recovered
        .truncate()
        .map_err(|e| format!("cutting the append-only log: {e}"))?;
    let mut logs = Vec::with_capacity(n);
    for s in 0..n {
        let log = aof::open_log(&layout, s, policy, None)
            .map_err(|e| format!("opening the append-only log of shard {s}: {e}"))?;
        logs.push(Some(log));
    }
    kevy.server.rewrites.enabled.store(true, Relaxed);
    kevy.server.rewrites.wanted.store(true, Relaxed);
    Ok(Some(Boot {
        epoch: recovered.max_epoch + 1,
        recovered: Arc::new(recovered),
        logs: std::sync::Mutex::new(logs),
        layout,
        rewrites: kevy.server.rewrites.clone(),
    }))
}

impl Boot {
    /// Bytes of the files found, summed over shards.
    pub fn total_bytes(&self) -> u64 {
        (0..self.recovered.shards())
            .map(|s| aof::dir::log_size(&self.layout, s).unwrap_or(0))
            .sum()
    }

    /// Shard `s`'s log, to keep for the shard's life.
    pub fn take_log(&self, s: usize) -> Option<OpenedLog> {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let log = logs.get_mut(s)?.take()?;
        let size = aof::dir::log_size(&self.layout, s).unwrap_or(0);
        Some(OpenedLog {
            log,
            layout: self.layout.clone(),
            epoch: self.epoch,
            rewrites: self.rewrites.clone(),
            size,
        })
    }
}

/// A shard's log opened for appending, on its way to the shard's thread.
pub struct OpenedLog {
    log: Log,
    layout: Layout,
    epoch: u64,
    rewrites: Arc<Rewrites>,
    /// The files' size.
    size: u64,
}

impl OpenedLog {
    pub fn into_shard_log(self) -> ShardLog {
        ShardLog {
            pos_origin: self.log.appended(),
            log: self.log,
            layout: self.layout,
            epoch: self.epoch,
            ok: true,
            rewrites: self.rewrites,
            rewriting: None,
            cut_gen: 0,
            carried: 0,
            carried_gen: 0,
            size_origin: self.size,
            base_size: self.size,
            switching: None,
        }
    }
}

/// Replays shard `s`'s files into `shard` (whose id is `s`), with the
/// clock stopped.
pub fn replay_shard(
    kevy: &Kevy,
    rec: &Recovered,
    s: usize,
    shard: &mut Shard,
) -> Result<(), String> {
    if s >= rec.shards() {
        // A new log: nothing to replay.
        return Ok(());
    }
    let now = shard.store.now();
    shard.store.set_now(0);
    let mut db = 0u32;
    let mut failed: Option<String> = None;
    let done = rec.replay(s, |r| {
        match r {
            Replay::RdbBase(path) => load_base(path, shard)?,
            Replay::Select(d) => db = d,
            Replay::Apply(resp) => {
                let mut rest = resp;
                while !rest.is_empty() {
                    let Some((argv, used)) = parse_array(rest) else {
                        failed = Some("an effect that is not a RESP array".into());
                        break;
                    };
                    rest = &rest[used..];
                    if argv
                        .first()
                        .is_some_and(|a| a.eq_ignore_ascii_case(b"select"))
                    {
                        db = argv
                            .get(1)
                            .and_then(|d| std::str::from_utf8(d).ok()?.parse().ok())
                            .unwrap_or(db);
                        continue;
                    }
                    if let Err(e) = kevy.replay(shard, db, &argv) {
                        failed = Some(e);
                        break;
                    }
                }
            }
        }
        Ok(())
    });
    shard.store.set_now(now);
    done.map_err(|e| format!("replaying the append-only log of shard {s}: {e}"))?;
    match failed {
        Some(e) => Err(format!("replaying the append-only log of shard {s}: {e}")),
        None => Ok(()),
    }
}

fn load_base(path: &Path, shard: &mut Shard) -> std::io::Result<()> {
    let store = &mut shard.store;
    rdb::load_file(path, 0, |k| {
        // Conversion replays each old shard on its own and places every
        // key by its slot afterwards: a base may hold keys of slots that
        // had moved to its shard.
        let ttl = k
            .expire_at
            .map_or(kevy_store::SetTtl::Clear, kevy_store::SetTtl::At);
        store.db(k.db).set(&k.key, k.value, ttl);
        Ok(())
    })
    .map(|_| ())
    .map_err(|e| std::io::Error::other(e.to_string()))
}

/// One RESP array of bulk strings at the start of `b`, and its length.
pub(crate) fn parse_array(b: &[u8]) -> Option<(Vec<Vec<u8>>, usize)> {
    fn line(b: &[u8], at: usize, kind: u8) -> Option<(usize, usize)> {
        if *b.get(at)? != kind {
            return None;
        }
        let end = at + b.get(at..)?.iter().position(|&c| c == b'\r')?;
        let n = std::str::from_utf8(&b[at + 1..end]).ok()?.parse().ok()?;
        Some((n, end + 2))
    }
    let (n, mut at) = line(b, 0, b'*')?;
    let mut argv = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let (len, start) = line(b, at, b'$')?;
        let arg = b.get(start..start.checked_add(len)?)?;
        argv.push(arg.to_vec());
        at = start + len + 2;
    }
    (at <= b.len()).then_some((argv, at))
}

// ---- rewriting (BGREWRITEAOF) ---------------------------------------------------------

pub const RW_STARTED: &str = "Background append only file rewriting started";
pub const RW_IN_PROGRESS: &str = "ERR Background append only file rewriting already in progress";
/// Redis's answer when a rewrite cannot start; kevy gives it when
/// `appendonly` is off (there is no log to rewrite).
pub const RW_CANNOT: &str = "ERR Can't execute an AOF background rewriting. \
                             Please check the server logs for more information.";

/// After a failed rewrite, automatic rewrites wait this long before trying
/// again (as save points do after a failed BGSAVE).
const AUTO_RETRY_MS: u64 = 5000;

/// The rewrite in progress, across shards.
#[derive(Default)]
struct RwJob {
    gen: u64,
    active: bool,
    /// Parts that joined (BGREWRITEAOF ran on that shard).
    joined: usize,
    /// Shards whose cut is taken (or failed).
    cut: usize,
    /// Shards whose log is durable past every shard's cut.
    synced: usize,
    /// Shards done, and whether any failed.
    finished: usize,
    failed: bool,
    started_ms: u64,
}

/// What every shard shares about rewrites (and INFO reports).
pub struct Rewrites {
    /// `aof_enabled`: every shard logs (from start-up, or from the switch
    /// that turned the log on).
    pub enabled: AtomicBool,
    /// The `appendonly` in force (CONFIG SET), which the shards follow at
    /// the next switch (`Rewrites::switch_part`).
    pub wanted: AtomicBool,
    /// Counts the times `appendonly yes` was asked for: a shard that still
    /// records from an earlier request fences again for a new one (its
    /// earlier fence may have run while `no` was wanted, and counted for
    /// nothing).
    pub want_gen: AtomicU64,
    switch: std::sync::Mutex<Switch>,
    job: std::sync::Mutex<RwJob>,
    gens: AtomicU64,
    /// The last generation whose cuts are all taken, and whose shards all
    /// made their logs durable past every cut.
    all_cut: AtomicU64,
    all_synced: AtomicU64,
    /// The last generation that installed a base on every shard.
    all_installed: AtomicU64,
    /// `aof_rewrite_in_progress`.
    pub in_progress: AtomicBool,
    /// Unix ms when the rewrite in progress started.
    pub started_ms: AtomicU64,
    /// `aof_last_bgrewrite_status`.
    pub last_ok: AtomicBool,
    /// Unix ms of the last failed rewrite (automatic ones wait after it).
    pub last_try_ms: AtomicU64,
    /// `aof_last_rewrite_time_sec`.
    pub last_secs: AtomicI64,
    /// `aof_rewrites`.
    pub count: AtomicU64,
    /// `aof_rewrites_consecutive_failures`.
    pub consecutive_failures: AtomicU64,
}

impl Default for Rewrites {
    fn default() -> Self {
        Rewrites {
            enabled: AtomicBool::new(false),
            wanted: AtomicBool::new(false),
            want_gen: AtomicU64::new(0),
            switch: Default::default(),
            job: Default::default(),
            gens: AtomicU64::new(0),
            all_cut: AtomicU64::new(0),
            all_synced: AtomicU64::new(0),
            all_installed: AtomicU64::new(0),
            in_progress: AtomicBool::new(false),
            started_ms: AtomicU64::new(0),
            last_ok: AtomicBool::new(true),
            last_try_ms: AtomicU64::new(0),
            last_secs: AtomicI64::new(-1),
            count: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
        }
    }
}

impl Rewrites {
    fn job(&self) -> std::sync::MutexGuard<'_, RwJob> {
        self.job.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins a shard (of `n`) to a rewrite, starting one when none runs.
    /// The parts of one BGREWRITEAOF run back to back, and another
    /// whole-keyspace command waits for all of them: a rewrite with fewer
    /// than `n` parts joined is this command's.
    fn join(&self, n: usize) -> Result<u64, &'static str> {
        let mut job = self.job();
        if !job.active {
            let now = kevy_sys::clock::unix_ms();
            *job = RwJob {
                gen: self.gens.fetch_add(1, Relaxed) + 1,
                active: true,
                started_ms: now,
                ..RwJob::default()
            };
            self.started_ms.store(now, Relaxed);
            self.in_progress.store(true, Relaxed);
        } else if job.joined >= n {
            return Err(RW_IN_PROGRESS);
        }
        job.joined += 1;
        Ok(job.gen)
    }

    /// Counts a shard past a stage of rewrite `gen`; when it is the last
    /// of `n`, publishes that every shard is past it.
    fn count_stage(
        &self,
        gen: u64,
        n: usize,
        stage: fn(&mut RwJob) -> &mut usize,
        all: &AtomicU64,
    ) {
        let mut job = self.job();
        if job.gen != gen {
            return;
        }
        let c = stage(&mut job);
        *c += 1;
        if *c == n {
            // Release pairs with the Acquire in `all_past`.
            all.store(gen, Ordering::Release);
        }
    }

    fn all_past(all: &AtomicU64, gen: u64) -> bool {
        all.load(Ordering::Acquire) >= gen
    }

    /// A shard's part of rewrite `gen` ended (`ok`: its base is
    /// installed); the last of `n` records the outcome.
    fn finished(&self, gen: u64, n: usize, ok: bool) {
        let mut job = self.job();
        if job.gen != gen {
            return;
        }
        job.finished += 1;
        job.failed |= !ok;
        if job.finished < n {
            return;
        }
        let now = kevy_sys::clock::unix_ms();
        let failed = job.failed;
        self.last_secs
            .store((now.saturating_sub(job.started_ms) / 1000) as i64, Relaxed);
        job.active = false;
        self.last_ok.store(!failed, Relaxed);
        if failed {
            self.consecutive_failures.fetch_add(1, Relaxed);
            self.last_try_ms.store(now, Relaxed);
            crate::log!(Warning, "background AOF rewrite failed");
        } else {
            self.all_installed.store(gen, Relaxed);
            self.consecutive_failures.store(0, Relaxed);
            self.count.fetch_add(1, Relaxed);
            crate::log!(Notice, "background AOF rewrite finished successfully");
        }
        self.in_progress.store(false, Relaxed);
    }

    /// Whether `auto-aof-rewrite-percentage` / `-min-size` ask for a rewrite
    /// of logs now `current` bytes whose size after the last rewrite (or at
    /// start-up) was `base`.
    pub fn auto_due(&self, current: u64, base: u64, now_ms: u64) -> bool {
        if self.in_progress.load(Relaxed) {
            return false;
        }
        if !self.last_ok.load(Relaxed) && now_ms < self.last_try_ms.load(Relaxed) + AUTO_RETRY_MS {
            return false;
        }
        let num = |name: &str| {
            crate::settings::current(name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let perc = num("auto-aof-rewrite-percentage");
        let min = num("auto-aof-rewrite-min-size");
        aof::should_rewrite(current, base, perc, min)
    }
}

/// The fork-less snapshot of a rewrite writes a whole RDB file: header,
/// the shard's section, trailer with the checksum of everything before it.
type RdbOut = rdb::CrcWriter<BufWriter<File>>;

/// One shard's part of a rewrite.
struct ShardRewrite {
    gen: u64,
    /// `None`: this shard's part failed (it still takes part in the sync
    /// that lets the other shards install).
    rw: Option<aof::Rewrite>,
    snap: Option<rdb::Snapshot<RdbOut>>,
    /// The snapshot's file, copied into the base once complete.
    temp: PathBuf,
    /// The log is durable past every shard's cut.
    synced: bool,
    /// The thread writing and installing the base: the base's size.
    install: Option<std::sync::mpsc::Receiver<std::io::Result<u64>>>,
    /// Where the new incr file starts.
    point: u64,
}

/// BGREWRITEAOF's part on one shard: first the shard's part of a pending
/// switch of `appendonly`, if any; then it joins the rewrite. The cut
/// itself is taken by [`take_cut`] right after this command returns, where
/// the effects this iteration recorded before it can go to the log first.
pub fn rewrite_part(shard: &mut Shard, issuer: Option<usize>) -> Result<(), &'static str> {
    let rewrites = shard.rewrites.clone();
    let moved = shard.slots.moved() > 0;
    match rewrites.switch_part(shard.id, shard.nshards, issuer, moved) {
        SwitchPart::Stay => {}
        // Only the server's own commands carry a fence or a switch off,
        // and their replies go nowhere: no error to count.
        SwitchPart::Fence => return Ok(()),
        SwitchPart::Open(log) => {
            let mut log = log.into_shard_log();
            log.switching = Some(true);
            shard.aof = Some(log);
        }
        SwitchPart::Close => {
            if let Some(log) = shard.aof.as_mut() {
                log.switching = Some(false);
                shard.rewrite_cut_due = true;
            }
            return Ok(());
        }
    }
    let Some(log) = shard.aof.as_mut() else {
        if shard.id == 0 {
            crate::log!(
                Notice,
                "BGREWRITEAOF needs appendonly yes (there is no log to rewrite)"
            );
        }
        return Err(RW_CANNOT);
    };
    log.cut_gen = log.rewrites.join(shard.nshards)?;
    shard.rewrite_cut_due = true;
    Ok(())
}

/// Takes the shard's cut for the rewrite it joined: the iteration's
/// effects so far go to the current files, the log switches to a new incr
/// file (the point), and the snapshot of the store starts, all with no
/// command in between. A shard switching its log on starts recording its
/// effects here; one switching it off writes, fsyncs and closes it here.
pub fn take_cut(shard: &mut Shard, effects: &mut Effects) {
    shard.rewrite_cut_due = false;
    match shard.aof.as_mut().and_then(|l| l.switching.take()) {
        Some(true) => {
            // What the iteration recorded before the cut is in the store,
            // so in the base: it has no place in the log.
            effects.take_records(|_| {});
            shard.recording = false;
            effects.set_enabled(true);
            if !shard.prop_attached {
                crate::propagate::follow(&mut shard.store, &mut shard.prop_attached);
            }
        }
        Some(false) => {
            if let Some(mut log) = shard.aof.take() {
                log.close(effects);
            }
            effects.set_enabled(false);
            if shard.prop_attached {
                crate::propagate::follow(&mut shard.store, &mut shard.prop_attached);
            }
            return;
        }
        None => {}
    }
    let (id, n) = (shard.id, shard.nshards);
    let Some(log) = shard.aof.as_mut() else {
        return;
    };
    let gen = log.cut_gen;
    let started = log
        .append(effects)
        .map_err(|e| e.to_string())
        .and_then(|_| log.begin(id, gen))
        .and_then(|rw| {
            let temp = log
                .layout
                .dir
                .join(format!("temp-{}.s{id}.rewrite.rdb", log.layout.name));
            let f = File::create(&temp).map_err(|e| format!("{}: {e}", temp.display()))?;
            let mut aux = rdb::Aux::for_store(&shard.store);
            if id == 0 {
                // The function libraries are the server's: shard 0's base
                // holds them.
                aux.functions = shard.persist.libraries();
            }
            let mut out = rdb::CrcWriter::new(BufWriter::new(f));
            if let Err(e) = rdb::write_header(&mut out, &aux) {
                let _ = std::fs::remove_file(&temp);
                return Err(e.to_string());
            }
            let snap = rdb::Snapshot::start(&mut shard.store, out);
            Ok(ShardRewrite {
                gen,
                point: rw.point,
                rw: Some(rw),
                snap: Some(snap),
                temp,
                synced: false,
                install: None,
            })
        });
    let part = started.unwrap_or_else(|e| {
        crate::log!(Warning, "shard {id}: cannot start the AOF rewrite: {e}");
        ShardRewrite {
            gen,
            rw: None,
            snap: None,
            temp: PathBuf::new(),
            synced: false,
            install: None,
            point: 0,
        }
    });
    log.rewriting = Some(part);
    let r = log.rewrites.clone();
    r.count_stage(gen, n, |j| &mut j.cut, &r.all_cut);
}

// ---- turning the log on and off (CONFIG SET appendonly) ------------------------------

/// The switch in progress. The server's own commands all run as one
/// client (id 0), whose whole-shard locks do not exclude each other: parts
/// of two of them may interleave. So a switch is decided by the part on
/// shard 0 of the command shard 0 issued for it, and each shard applies it
/// at its next part, which is that command's (nothing else of shard 0's
/// runs ahead of it on any shard); fences count their parts per issuer.
#[derive(Default)]
struct Switch {
    /// The switch decided and not yet applied on every shard.
    action: SwitchAction,
    /// The shards that applied it.
    applied: Vec<bool>,
    /// The logs a switch-on opened, one per shard.
    logs: Vec<Option<OpenedLog>>,
    /// The shards whose fence completed while they record effects, and
    /// the parts of each shard's fence seen so far.
    fenced: Vec<bool>,
    fence_parts: Vec<usize>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum SwitchAction {
    #[default]
    Stay,
    Open,
    Close,
}

/// A shard's part of a switch.
pub enum SwitchPart {
    Stay,
    /// A fence (see the module doc): nothing to do on the shard.
    Fence,
    /// The shard's new log: it records from its cut on.
    Open(OpenedLog),
    /// The shard closes its log.
    Close,
}

impl Rewrites {
    /// Shard `id`'s (of `n`) part of the switch pending, if any, in a
    /// BGREWRITEAOF that shard `issuer` issued itself (`None`: a client's).
    /// A switch on waits for every shard's fence, opens every shard's log
    /// in a fresh directory (or nothing, when that fails); a switch off
    /// waits until no rewrite runs.
    /// `moved`: some hash slot is away from where a server starts it.
    fn switch_part(
        self: &Arc<Self>,
        id: usize,
        n: usize,
        issuer: Option<usize>,
        moved: bool,
    ) -> SwitchPart {
        let mut sw = self.switch.lock().unwrap_or_else(|e| e.into_inner());
        if sw.fenced.len() != n {
            sw.fenced = vec![false; n];
            sw.fence_parts = vec![0; n];
            sw.applied = vec![false; n];
        }
        let want = self.wanted.load(Relaxed);
        let on = self.enabled.load(Relaxed);
        if want && !on && sw.action == SwitchAction::Stay {
            if let Some(h) = issuer.filter(|&h| h < n && !sw.fenced[h]) {
                sw.fence_parts[h] += 1;
                if sw.fence_parts[h] == n {
                    sw.fence_parts[h] = 0;
                    sw.fenced[h] = true;
                }
                return SwitchPart::Fence;
            }
        }
        if sw.action == SwitchAction::Stay && id == 0 && issuer == Some(0) {
            if want && !on && sw.fenced.iter().all(|&f| f) {
                match open_fresh(n, self, moved) {
                    Ok(logs) => {
                        sw.logs = logs.into_iter().map(Some).collect();
                        sw.action = SwitchAction::Open;
                        sw.fenced.iter_mut().for_each(|f| *f = false);
                        self.enabled.store(true, Relaxed);
                        crate::log!(Notice, "append-only log turned on; rewriting it");
                    }
                    Err(e) => {
                        self.last_ok.store(false, Relaxed);
                        self.last_try_ms.store(kevy_sys::clock::unix_ms(), Relaxed);
                        crate::log!(Warning, "cannot turn the append-only log on: {e}");
                    }
                }
            } else if !want && on && !self.job().active {
                sw.action = SwitchAction::Close;
                crate::log!(Notice, "append-only log turned off");
            }
            if sw.action != SwitchAction::Stay {
                sw.applied.iter_mut().for_each(|a| *a = false);
            }
        }
        let action = sw.action;
        if action == SwitchAction::Stay || sw.applied.get(id) != Some(&false) {
            return SwitchPart::Stay;
        }
        sw.applied[id] = true;
        if sw.applied.iter().all(|&a| a) {
            sw.action = SwitchAction::Stay;
            if action == SwitchAction::Close {
                // INFO says off once no shard logs any more.
                self.enabled.store(false, Relaxed);
            }
        }
        match action {
            SwitchAction::Open => match sw.logs.get_mut(id).and_then(Option::take) {
                Some(log) => SwitchPart::Open(log),
                None => SwitchPart::Stay,
            },
            _ => SwitchPart::Close,
        }
    }

    /// Shard `id` stopped recording effects without a log (`appendonly`
    /// was set back to `no` before the switch): its fence no longer holds.
    fn unfence(&self, id: usize) {
        let mut sw = self.switch.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = sw.fenced.get_mut(id) {
            *f = false;
        }
        if let Some(p) = sw.fence_parts.get_mut(id) {
            *p = 0;
        }
    }

    /// CONFIG SET appendonly: what the shards should follow.
    pub fn want(&self, on: bool) {
        if on {
            self.want_gen.fetch_add(1, Relaxed);
        }
        self.wanted.store(on, Relaxed);
    }

    /// Whether every shard's fence completed (a switch-on may start).
    fn all_fenced(&self, n: usize) -> bool {
        let sw = self.switch.lock().unwrap_or_else(|e| e.into_inner());
        sw.fenced.len() == n && sw.fenced.iter().all(|&f| f)
    }

    /// Whether a switch of `appendonly` is pending (CONFIG SET changed it
    /// and the shards do not follow yet), and may start now.
    pub fn switch_due(&self, n: usize, now_ms: u64) -> bool {
        let want = self.wanted.load(Relaxed);
        if want == self.enabled.load(Relaxed) {
            return false;
        }
        if want {
            // After a failed attempt, wait as automatic rewrites do.
            self.all_fenced(n)
                && (self.last_ok.load(Relaxed)
                    || now_ms >= self.last_try_ms.load(Relaxed) + AUTO_RETRY_MS)
        } else {
            !self.in_progress.load(Relaxed)
        }
    }
}

/// On a shard without a log, from its tick: starts recording effects once
/// `appendonly` is wanted (they are dropped until the switch opens the
/// log, see the module doc), and stops when it no longer is.
pub fn follow_wanted(shard: &mut Shard, effects: &mut Effects) {
    if shard.aof.is_some() {
        return;
    }
    let want = shard.rewrites.wanted.load(Relaxed);
    let gen = shard.rewrites.want_gen.load(Relaxed);
    if want && shard.recording && shard.fence_gen != gen {
        // `appendonly` went to `no` and back between two ticks: fence for
        // the new request.
        shard.fence_gen = gen;
        shard.fence_sent = false;
        shard.rewrites.unfence(shard.id);
    }
    if want && !shard.recording {
        shard.recording = true;
        shard.fence_sent = false;
        shard.fence_gen = gen;
        effects.set_enabled(true);
    } else if !want && shard.recording {
        shard.recording = false;
        shard.rewrites.unfence(shard.id);
        effects.set_enabled(false);
    }
    if shard.prop_attached != effects.enabled() {
        crate::propagate::follow(&mut shard.store, &mut shard.prop_attached);
    }
}

/// The shard's fence, issued once after it started recording effects
/// without a log.
pub fn fence_due(shard: &mut Shard) -> bool {
    if shard.aof.is_some() || !shard.recording || shard.fence_sent {
        return false;
    }
    shard.fence_sent = true;
    true
}

/// On a shard recording effects without a log: drops them.
pub fn drop_unlogged(shard: &Shard, effects: &mut Effects) {
    if shard.aof.is_none() && shard.recording {
        effects.take_records(|_| {});
    }
}

/// Opens a log for each of `n` shards in a fresh directory. Files already
/// there (an earlier run's, or an earlier switch-on's of this run) are
/// removed first: they hold a history this server did not follow, and the
/// rewrite this switch starts makes a base of everything anyway. Mixing
/// them with the new files would replay that history under the new one.
/// The directory is renamed aside before it is removed, so a crash
/// leaves it whole or gone (start-up removes what is left aside).
fn open_fresh(n: usize, rewrites: &Arc<Rewrites>, moved: bool) -> Result<Vec<OpenedLog>, String> {
    let Some((layout, policy)) = layout() else {
        return Err("appendonly is off".into());
    };
    let io = |e: std::io::Error| format!("{}: {e}", layout.dir.display());
    finish_conversion(&layout.dir).map_err(io)?;
    if layout.dir.exists() {
        let aside = sibling(&layout.dir, ".old");
        std::fs::rename(&layout.dir, &aside).map_err(io)?;
        if let Some(parent) = layout.dir.parent() {
            rdb::sync_dir(parent).map_err(io)?;
        }
        std::fs::remove_dir_all(&aside).map_err(io)?;
    }
    // The directory is new: the first epoch, as at a first start.
    let epoch = 1;
    let mut logs = Vec::with_capacity(n);
    for s in 0..n {
        let log = aof::open_log(&layout, s, policy, None)
            .map_err(|e| format!("opening the append-only log of shard {s}: {e}"))?;
        logs.push(OpenedLog {
            log,
            layout: layout.clone(),
            epoch,
            rewrites: rewrites.clone(),
            size: 0,
        });
    }
    if moved {
        // Before any shard writes a base: a crash after it leaves files
        // that load by conversion, whatever they hold.
        let path = layout.dir.join(MOVED_SLOTS);
        let mut f = std::fs::File::create(&path).map_err(io)?;
        use std::io::Write;
        f.write_all(
            b"kevy: the shards' files hold keys of moved hash slots; loading converts them\n",
        )
        .and_then(|()| f.sync_all())
        .and_then(|()| rdb::sync_dir(&layout.dir))
        .map_err(io)?;
    }
    Ok(logs)
}

impl ShardLog {
    /// `begin_rewrite` with the decisions to carry: those of the files
    /// being replaced, except the ones the previous rewrite carried when
    /// that rewrite installed on every shard (see the module doc).
    fn begin(&mut self, shard: usize, gen: u64) -> Result<aof::Rewrite, String> {
        let skip = if self.carried_gen != 0
            && self.rewrites.all_installed.load(Relaxed) >= self.carried_gen
        {
            self.carried
        } else {
            0
        };
        let seen = std::cell::Cell::new(0usize);
        let kept = std::cell::Cell::new(0usize);
        let rw = aof::begin_rewrite(&self.layout, shard, &mut self.log, |_, _| {
            let i = seen.get();
            seen.set(i + 1);
            let keep = i >= skip;
            kept.set(kept.get() + keep as usize);
            keep
        });
        match rw {
            Ok(rw) => {
                self.carried = kept.get();
                self.carried_gen = gen;
                Ok(rw)
            }
            Err(e) => {
                // What the file switch carried is unknown: carry
                // everything next time.
                self.carried = 0;
                self.carried_gen = 0;
                Err(e.to_string())
            }
        }
    }
}

/// Advances the shard's rewrite, if any: about `budget` keys of its
/// snapshot; once every shard took its cut, an fsync of this shard's log;
/// once every shard did that and the snapshot is complete, a thread that
/// writes and installs the base; and the outcome when that thread is done.
pub fn step_rewrite(shard: &mut Shard, budget: usize) {
    let (id, n) = (shard.id, shard.nshards);
    let Some(log) = shard.aof.as_mut() else {
        return;
    };
    let Some(part) = log.rewriting.as_mut() else {
        return;
    };
    let gen = part.gen;
    if let Some(snap) = part.snap.as_mut() {
        let done = match snap.step(&shard.store, budget) {
            Ok(false) => None,
            Ok(true) => part
                .snap
                .take()
                .map(|s| finish_snapshot(s, &mut shard.store)),
            Err(e) => Some(Err(e)),
        };
        if let Some(Err(e)) = done {
            crate::log!(
                Notice,
                "shard {id}: writing the AOF rewrite's snapshot: {e}"
            );
            if let Some(s) = part.snap.take() {
                s.cancel(&mut shard.store);
            }
            part.rw = None;
            let _ = std::fs::remove_file(&part.temp);
        }
    }
    let r = log.rewrites.clone();
    if !part.synced && Rewrites::all_past(&r.all_cut, gen) {
        // Every decision recorded before any shard's cut is in this
        // shard's log by now: make it durable before any base installs.
        if let Err(e) = log.log.sync_now() {
            crate::log!(
                Warning,
                "shard {id}: fsync of the append-only log failed: {e}"
            );
            log.ok = false;
            part.rw = None;
        }
        part.synced = true;
        r.count_stage(gen, n, |j| &mut j.synced, &r.all_synced);
    }
    if part.snap.is_none()
        && part.install.is_none()
        && part.synced
        && Rewrites::all_past(&r.all_synced, gen)
    {
        let Some(rw) = part.rw.take() else {
            // Failed: done once synced.
            log.rewriting = None;
            r.finished(gen, n, false);
            return;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let layout = log.layout.clone();
        let temp = part.temp.clone();
        let spawned = std::thread::Builder::new()
            .name("kevy-aof-rewrite".into())
            .spawn(move || {
                let done = install(rw, &layout, &temp);
                let _ = std::fs::remove_file(&temp);
                let _ = tx.send(done);
            });
        match spawned {
            Ok(_) => part.install = Some(rx),
            Err(e) => {
                crate::log!(Warning, "cannot start the AOF rewrite thread: {e}");
                let _ = std::fs::remove_file(&part.temp);
                log.rewriting = None;
                r.finished(gen, n, false);
                return;
            }
        }
    }
    let Some(rx) = part.install.as_ref() else {
        return;
    };
    let outcome = match rx.try_recv() {
        Ok(done) => done,
        Err(std::sync::mpsc::TryRecvError::Empty) => return,
        Err(std::sync::mpsc::TryRecvError::Disconnected) => {
            Err(std::io::Error::other("the rewrite thread stopped"))
        }
    };
    let point = part.point;
    log.rewriting = None;
    match outcome {
        Ok(base) => {
            log.size_origin = base;
            log.pos_origin = point;
            log.base_size = base;
            r.finished(gen, n, true);
        }
        Err(e) => {
            crate::log!(
                Warning,
                "shard {id}: installing the rewritten AOF base: {e}"
            );
            r.finished(gen, n, false);
        }
    }
}

/// Completes a rewrite snapshot's file: the trailer with the checksum,
/// flushed (the copy into the base is fsynced, not this file).
fn finish_snapshot(
    snap: rdb::Snapshot<RdbOut>,
    store: &mut kevy_store::Store,
) -> std::io::Result<()> {
    let out = snap.finish(store)?;
    let crc = out.crc();
    let mut w = out.into_inner();
    rdb::write_trailer(&mut w, crc)?;
    w.flush()
}

/// Steps 2 and 3 of the rewrite, on the rewrite's thread: the snapshot's
/// file copied into the base, then the manifest swap. Returns the base's
/// size.
fn install(mut rw: aof::Rewrite, layout: &Layout, temp: &Path) -> std::io::Result<u64> {
    let mut copied = 0u64;
    rw.write_base(layout, aof::BaseFormat::Rdb, |sink| {
        let mut f = File::open(temp)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let got = f.read(&mut buf)?;
            if got == 0 {
                return Ok(());
            }
            sink.rdb_bytes(&buf[..got])?;
            copied += got as u64;
        }
    })?;
    rw.install(layout)?;
    Ok(copied)
}

/// Publishes the log's facts for INFO (`aof_*`).
pub fn publish(shard: &Shard, p: &crate::server::ShardPublished) {
    let Some(log) = shard.aof.as_ref() else {
        return;
    };
    let l = &log.log;
    p.aof_current_size.store(log.current_size(), Relaxed);
    p.aof_base_size.store(log.base_size, Relaxed);
    p.aof_buffer_length
        .store(l.appended().saturating_sub(l.written()), Relaxed);
    p.aof_pending_fsync
        .store((l.synced() < l.written()) as u64, Relaxed);
    p.aof_delayed_fsync.store(l.delayed_fsync(), Relaxed);
    p.aof_write_failed.store((!log.ok) as u64, Relaxed);
}

// ---- a change of shard count ----------------------------------------------------------

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut s = dir.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Completes a conversion a crash interrupted: a complete new directory
/// waiting beside a missing one is renamed into place; a leftover old one
/// is removed.
fn finish_conversion(dir: &Path) -> std::io::Result<()> {
    let new = sibling(dir, ".new");
    let old = sibling(dir, ".old");
    if !dir.exists() && new.join("complete").exists() {
        std::fs::rename(&new, dir)?;
    }
    if new.exists() {
        std::fs::remove_dir_all(&new)?;
    }
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// Rewrites logs of `rec.shards()` shards as `n` shards: the old shards
/// replayed here, each new shard given an RDB base of its keys, in a new
/// directory renamed over the old one.
fn convert(kevy: &Kevy, layout: &Layout, rec: &Recovered, n: usize) -> Result<(), String> {
    let old_n = rec.shards();
    crate::log!(
        Notice,
        "the append-only log has {old_n} shard(s); rewriting it for {n}"
    );
    // The old logs are in the layout of their shard count; the new ones
    // take the server's.
    let slots = kevy_rt::Service::slots(kevy, n);
    let mut old = Vec::with_capacity(old_n);
    for s in 0..old_n {
        let mut shard = Shard::new(s, old_n);
        replay_shard(kevy, rec, s, &mut shard)?;
        old.push(shard);
    }
    let new_dir = sibling(&layout.dir, ".new");
    let io = |e: std::io::Error| format!("{}: {e}", new_dir.display());
    if new_dir.exists() {
        std::fs::remove_dir_all(&new_dir).map_err(io)?;
    }
    let new_layout = Layout::new(new_dir.clone(), layout.name.clone());
    for s in 0..n {
        let mut log = aof::open_log(&new_layout, s, Fsync::No, None).map_err(|e| e.to_string())?;
        let mut rw = aof::begin_rewrite(&new_layout, s, &mut log, |_, _| false)
            .map_err(|e| e.to_string())?;
        rw.write_base(&new_layout, aof::BaseFormat::Rdb, |sink| {
            let aux = rdb::Aux {
                redis_ver: crate::families::common::REDIS_VERSION.to_string(),
                ctime: kevy_sys::clock::unix_ms() / 1000,
                used_mem: 0,
                functions: Vec::new(),
            };
            let mut cw = rdb::CrcWriter::new(Vec::new());
            rdb::write_header(&mut cw, &aux)?;
            let mut w = rdb::SectionWriter::new(cw);
            for o in &old {
                for db in 0..o.store.ndbs() {
                    for (k, e) in o.store.entries(db) {
                        if slots.shard_of(k) == s {
                            w.key(db, k, e)?;
                        }
                    }
                }
            }
            let cw = w.into_inner();
            let crc = cw.crc();
            let mut bytes = cw.into_inner();
            rdb::write_trailer(&mut bytes, crc)?;
            sink.rdb_bytes(&bytes)
        })
        .map_err(io)?;
        rw.install(&new_layout).map_err(io)?;
        log.sync_now().map_err(io)?;
    }
    // The marker says the new directory is whole: only then may it
    // replace the old one.
    let marker = new_dir.join("complete");
    std::fs::File::create(&marker)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    rdb::sync_dir(&new_dir).map_err(io)?;
    let old_dir = sibling(&layout.dir, ".old");
    std::fs::rename(&layout.dir, &old_dir).map_err(io)?;
    std::fs::rename(&new_dir, &layout.dir).map_err(io)?;
    if let Some(parent) = layout.dir.parent() {
        rdb::sync_dir(parent).map_err(io)?;
    }
    std::fs::remove_file(layout.dir.join("complete")).map_err(io)?;
    std::fs::remove_dir_all(&old_dir).map_err(io)?;
    Ok(())
}
