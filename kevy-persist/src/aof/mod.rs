//! The append-only log: per shard, a log of the effects its reactor
//! applied, checksummed record by record, fsynced by a thread the log owns,
//! with cross-shard transactions that recovery applies everywhere or
//! nowhere, and a rewrite that needs neither fork nor a pause.
//!
//! # Files
//!
//! Everything lives in `appenddirname` (default `appendonlydir`); names
//! start with `appendfilename` (default `appendonly.aof`). Each shard `S`
//! has its own manifest and files:
//!
//! ```text
//! appendonly.aof.s0.manifest           file appendonly.aof.s0.3.base.kevy seq 3 type b
//!                                      file appendonly.aof.s0.3.incr.kevy seq 3 type i
//! appendonly.aof.s0.3.base.kevy        the base: records, or .rdb for RDB bytes
//! appendonly.aof.s0.3.incr.kevy        records appended since the base
//! appendonly.aof.s1.manifest ...
//! temp-...                             a manifest or base being written
//! ```
//!
//! As in Redis 7's multi-part AOF, a manifest lists one optional base and
//! incr files in order, one `file NAME seq N type b|i` per line, and is
//! only ever replaced by rename. How kevy differs: one manifest and one
//! set of files per shard, so shards rewrite independently; the shard
//! count is the number of manifests (`s0` to `sN-1`, a gap is refused);
//! incr files hold framed records (below), not bare RESP, so
//! `redis-check-aof` cannot read them; there are no `type h` history
//! entries: replaced files are deleted right after the manifest swap, and
//! files of a shard that its manifest does not list (what a crash between
//! the swap and the deletion, or during a base write, leaves) are removed
//! when the log is opened. A base is either a records file ending with a
//! `BaseEnd` record, or RDB bytes from the snapshot writer ([`BaseFormat`]).
//!
//! # Records
//!
//! `len u32 | crc32c u32 | tag u8 | payload[len]`, little endian; the
//! CRC32C covers the length, the tag and the payload ([`record`]).
//!
//! | tag | record | payload |
//! |-----|--------|---------|
//! | 1 | `Effects` | RESP arrays: effects outside cross-shard transactions, `SELECT` where the database changes |
//! | 2 | `TxEffects` | txid (20 bytes), then RESP arrays: effects of one cross-shard transaction on this shard |
//! | 3 | `TxCommit` | txid, participant count u32, participants u32 each: this shard's part is complete |
//! | 4 | `BaseEnd` | u64: how many records the base holds before it |
//!
//! A txid is `(epoch u64, coordinator u32, counter u64)`: the coordinator
//! shard counts its transactions; the epoch is one more than the highest
//! [`Recovered::max_epoch`] of the logs at boot, so ids never repeat across
//! boots. One record is atomic: a crash keeps all of it or none.
//!
//! Reading ([`record::Reader`]): a record cut short, or damaged with only
//! zeros or nothing after it (a crash where the file's size reached the
//! disk before its data), is a *torn tail*: loading stops there, reports
//! it, and [`Recovered::truncate`] cuts it before appending resumes, like
//! Redis's `aof-load-truncated yes`. A damaged record with non-zero bytes
//! after it is corruption: the load fails naming the file and the byte
//! offset, unless [`LoadOptions::allow_corrupt`] says to load up to it
//! (everything after it in that shard is then discarded, as for a torn
//! tail). A torn tail in an incr file that is not the shard's last also
//! discards the later files: what they hold may depend on what was lost.
//! The reader never allocates more than the bytes left in the file.
//!
//! # fsync policies and group commit ([`Log`])
//!
//! The runtime appends a batch's effects ([`Log::append_effects`] …; each
//! returns the logical position where that record ends, a *ticket*), calls
//! [`Log::flush`] once per reactor iteration (one `write`), and releases a
//! reply when [`Log::durable`] reaches its ticket (for replies that also
//! wait on transactions, see the contract below).
//!
//! - `always`: `flush` asks the log's thread for an fsync up to everything
//!   written; [`Log::synced`] moves when an `fdatasync` that started after
//!   those bytes were written returns, and the thread then calls the
//!   [`Notify`] the runtime gave (e.g. writing its eventfd). Batches
//!   flushed while an fsync runs are covered together by the next one:
//!   many clients, and many reactor iterations, share one fsync, and the
//!   reactor never blocks on the disk. `durable()` is `synced()`.
//! - `everysec`: the thread fsyncs once a second whatever was written.
//!   Replies leave after `write` (`durable()` is `written()`); a crash
//!   of the machine may lose about the last second, as in Redis. As in
//!   Redis's `flushAppendOnlyFile`, while an fsync is running `flush`
//!   keeps the buffer ([`Flushed::Postponed`]) rather than having the
//!   reactor's `write` queue behind the disk, for at most
//!   [`log::POSTPONE_LIMIT`] (2 s); past that it writes anyway and counts
//!   a delayed fsync. While postponed, replies are not held back
//!   (`durable()` is `appended()`), as Redis answers then too: a crash of
//!   the process may then lose up to those 2 s.
//! - `no`: no fsync unless asked ([`Log::request_sync`], used by the
//!   rewrite); replies leave after `write`.
//!
//! A failed fsync stops `synced` for good ([`Log::error`]): the kernel
//! may have dropped the dirty pages, so nothing later can be trusted to be
//! on disk; the runtime must stop acknowledging writes. A failed or short
//! `write` makes every later write fail too: what reached the file is a
//! torn tail, cut at the next load, and nothing may follow it.
//!
//! # Cross-shard transactions: applied on every shard or on none
//!
//! A transaction `T` (MULTI/EXEC, MSET, RENAME, SMOVE, *STORE … whose keys
//! span shards) writes on its *participants* `P`. On each `p` in `P`, its
//! effects are `TxEffects(T)` records, and after its last one comes
//! `TxCommit(T, P)`: the *part* of `T` on `p`. Other commands' records may
//! sit between them (other keys run while `T` holds its locks).
//!
//! **Recovery** ([`recovery::consistent_cut`], a pure function over the
//! shards' records, and [`recover`] on the files). A *cut* keeps a prefix
//! of each shard's log. It is *consistent* when every `TxCommit(T, P)`
//! inside it belongs to a `T` whose commit is inside the prefix of every
//! participant in `P` (such a `T` is *committed*). Recovery computes the
//! greatest consistent cut: start from the whole logs; while a kept commit
//! belongs to a transaction some participant does not commit within its
//! kept prefix, cut that shard just before that commit; repeat to the
//! fixpoint (cutting one shard can make another's transaction incomplete).
//! It then replays, per shard, the kept records except the `TxEffects` of
//! transactions that are not committed (of those it applies only their
//! `SELECT`s, so that the database of later records is the one the
//! runtime meant). Discarded records are truncated away before the log is
//! appended to again.
//!
//! **Why the result is a state the server could have been in.**
//! 1. *Atomicity.* If `T` is committed, on each participant its records
//!    precede its commit, which is kept, so all are replayed; if not, none
//!    of its records is replayed anywhere.
//! 2. *Nothing replayed depends on something dropped.* A record depends on
//!    earlier records of its own shard, and on other shards only through
//!    transactions. Take a replayed record `r` on shard `s` and a dropped
//!    record `d` before it. If `d` is before the cut it is a `TxEffects(T)`
//!    of an uncommitted `T`, and `T`'s commit on `s` is not before `r`
//!    (a consistent cut keeps only committed commits): so `r` ran while
//!    `T` held its locks on `s` and touched none of `T`'s keys (contract
//!    2 and 4 below) — it commutes with `d`. A dependency through a
//!    transaction `T2` that `r` belongs to: `T2` is committed, so each of
//!    its commits is kept, and with it everything before it on that shard,
//!    which the same argument covers.
//! 3. *Why cut at the commit and not at the transaction's first record.*
//!    Cutting at the first record is simpler (it needs no tagging of
//!    effects) but is unusable: overlapping transactions (a pipeline of
//!    MSETs, say) chain, `T(n-1)`'s commit following `T(n)`'s first record
//!    on every shard, so one incomplete transaction would discard all of
//!    them back to the last instant with no transaction in flight — under
//!    steady load, everything — and no reply could ever be released by the
//!    rule below. With cuts at commits, a cascade needs two transactions
//!    that commit in opposite orders on two shards, once per step.
//!
//! **Nothing acknowledged is lost (`always`).** Let `S` be every shard's
//! synced prefix at some instant. A consistent cut of `S` is a consistent
//! cut of any longer logs (consistency looks only at records inside the
//! cut), so the greatest consistent cut of `S` is inside the one recovery
//! computes after any later crash: fsync keeps `S`. Hence the release rule
//! below keeps every acknowledged record, and a transaction whose reply
//! left is committed at every later recovery. It cannot deadlock: two
//! transactions whose commits cross on two shards are both committed once
//! all four commits are synced (a greatest fixpoint, not a chain of
//! waits).
//!
//! **`everysec` and `no`.** The same recovery: a crash may lose the last
//! second, but each transaction is all or nothing, and nothing that
//! followed an incomplete transaction's commit on a shard is replayed. What
//! is not kept across shards: two plain writes of one client on two
//! shards may survive one without the other, in either order (each shard's
//! log is its own prefix); only transactions tie shards together.
//!
//! **The decision form (what kevy's runtime does).** A transaction may
//! also be logged with a single commit: its coordinator's
//! `TxCommit(T, [c])`, written once every participant has logged its
//! `TxEffects(T)` (kevy-rt's crate doc, "Durability"). Participants then
//! log effects and no commit; [`Cut::replays`] applies the effects of a
//! committed transaction on any shard that logged them, and a commit whose
//! only participant is its own shard never cuts a log. Nothing acknowledged
//! can depend on an undecided transaction (no shard lets go of its keys
//! before the decision, and its connection's later replies follow its
//! own), so recovery drops exactly the undecided transactions' effects and
//! keeps every other record: a shard's own fsync is then enough for the
//! release rule of `always`.
//!
//! # The contract the runtime must meet
//!
//! 1. Effects outside cross-shard transactions go through
//!    [`Log::append_effects`]. One call is one atomic record, so the
//!    effects of a transaction whose writes are all on one shard are
//!    appended in one call (or logged as a transaction with `P = [s]`).
//! 2. For a cross-shard transaction `T`, each participant `p` appends
//!    `T`'s effects with [`Log::append_tx_effects`] (never in a call with
//!    other commands' effects), then [`Log::append_tx_commit`]`(T, P)`
//!    after `T`'s last effect on `p` and before `p` runs anything that can
//!    see `T`'s writes without `T`'s locks (releasing them, or the same
//!    connection's next command). `P` is the same on every participant,
//!    lists every shard that logs a part, and every shard in it logs a
//!    commit, even when its part wrote nothing. Read-only shards stay out
//!    of `P`.
//! 3. Txids: epoch = [`Recovered::max_epoch`] + 1 for the whole boot,
//!    coordinator = its shard index, counter = its own count.
//! 4. Between `T`'s first effect and its commit on `p`, no other effect on
//!    `p` touches `T`'s keys there: two-phase locking gives it, and
//!    background writers (active expiry, eviction) must respect the locks.
//! 5. Under `always`, a reply whose effects ended at ticket `x` on shard
//!    `s` leaves only when `x` is inside the greatest consistent cut of
//!    every shard's synced records ([`recovery::consistent_cut`] over each
//!    log's records up to [`Log::synced`]); a cross-shard transaction's
//!    reply leaves when each participant's commit is. When every commit
//!    before `x` on `s` is already inside that cut, `synced >= x` is
//!    enough. [`Stability`] keeps this cut incrementally: the runtime
//!    notes each commit it appends and each shard's synced position, and
//!    reads `stable(s)`; who owns it (one behind a lock, or fed by
//!    messages) is the runtime's choice. Each shard's own fsync is not
//!    enough: a synced commit whose partner was lost cuts the shard before
//!    it, taking later writes with it (a test shows the loss). Under
//!    `everysec` and `no`, replies leave at [`Log::durable`].
//! 6. After the log switches files ([`begin_rewrite`]), the next effect
//!    starts with a `SELECT`: every file replays from database 0 (Redis
//!    resets `aof_selected_db` at the same point).
//! 7. A failed fsync ([`Log::error`]) stops acknowledging writes.
//! 8. Boot: [`recover`], [`Recovered::replay`] each shard (an RDB base is
//!    handed over as [`Replay::RdbBase`]), [`Recovered::truncate`], then
//!    [`open_log`] per shard. When the shard count changed, keys are
//!    routed by slot while loading and every new shard writes a base
//!    before writes are accepted, the old manifests removed.
//!
//! # Rewrite without fork ([`begin_rewrite`], [`Rewrite`])
//!
//! 1. `begin_rewrite`: create the next incr file and fsync the directory;
//!    write a manifest listing the old files *and* the new incr file
//!    (temp, fsync, rename, fsync dir); switch the log to the new file —
//!    its position is the rewrite's *point* — and append there, first, the
//!    carried commits (below). The runtime takes its point-in-time view
//!    of the store at this moment, in the same reactor turn, and keeps
//!    serving: new effects go to the new file.
//! 2. [`Rewrite::write_base`]: write the base from the view into a temp
//!    file (records via [`BaseSink::effects`], or RDB bytes), fsync,
//!    rename to its final name, fsync the directory. Not yet listed.
//! 3. [`Rewrite::install`]: write the manifest listing the new base and
//!    the new incr file only (temp, fsync, rename, fsync dir), then delete
//!    the replaced files.
//!
//! A crash before step 1's manifest loads the old files (the new incr
//! file is empty and unlisted); after it and until step 3's rename, the
//! old files plus the new incr file, which together hold every record;
//! after it, the base plus the new incr file. Temp and unlisted files are
//! ignored and removed on open. Each case is a test.
//!
//! What the base must satisfy with respect to transactions:
//! - **No part open at the point.** The view is taken when no transaction
//!   has effects on this shard without its commit yet: the base then
//!   holds whole committed parts only, never half of one.
//! - **Install only once stable.** Step 3 runs only when the point is
//!   inside the greatest consistent cut of the synced records (contract
//!   5; under `everysec` and `no`, after [`Log::request_sync`] on the
//!   participants): then every transaction committed before the point is
//!   committed at any later recovery, and replacing its records by the
//!   base changes no recovery decision.
//! - **Carried commits.** Another participant's log may still hold its
//!   commit of a transaction whose commit here is in the replaced files;
//!   without a commit here recovery would find it incomplete and cut that
//!   shard (a test shows the loss). So `begin_rewrite` re-appends those
//!   commits at the head of the new incr file: the log keeps the commits
//!   of its live files ([`Log::commits`], read back by [`open_log`]), and
//!   the caller's filter chooses. A transaction may stop being carried
//!   once every other participant has installed a base whose point is past
//!   its own commit; carrying more only costs space.
//!
//! Automatic rewrite: [`should_rewrite`] is Redis's
//! `auto-aof-rewrite-percentage` / `auto-aof-rewrite-min-size` arithmetic,
//! with [`dir::log_size`] for the current size.
#![forbid(unsafe_code)]

pub mod dir;
pub mod log;
pub mod record;
pub mod recovery;
mod resp;
#[cfg(test)]
mod testutil;
pub mod trigger;

pub use dir::{
    begin_rewrite, open_log, recover, BaseFormat, BaseSink, Layout, LoadError, LoadOptions,
    Manifest, Recovered, Replay, Rewrite,
};
pub use log::{Flushed, Fsync, Log, Notify};
pub use record::{Corrupt, Damage, Record, Tag, TxId};
pub use recovery::{consistent_cut, Cut, Event, Stability};
pub use trigger::should_rewrite;
