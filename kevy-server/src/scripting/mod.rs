//! Lua scripting (EVAL, EVALSHA, FCALL and their `_RO` forms, SCRIPT,
//! FUNCTION): Lua 5.1 as Redis embeds it, with Redis's sandbox, `redis.*`
//! API, conversions and error texts.
//!
//! # Who owns what
//!
//! Scripts and function libraries belong to the server, not to a shard: a
//! script loaded on one connection runs from any other. Their *sources*
//! live here, in [`Scripts`], behind a lock that only SCRIPT LOAD, FUNCTION
//! LOAD/DELETE/FLUSH/RESTORE, SCRIPT FLUSH and a shard's cache miss take.
//! Each reactor thread has its own Lua state (`engine.rs`, created the
//! first time the thread runs a script) holding the *compiled* functions,
//! keyed by SHA-1 or function name. A generation counter per kind tells a
//! thread that a flush or a library change happened since it last looked,
//! so the hot path (EVALSHA of a cached script) takes no lock: one atomic
//! load and one hash lookup.
//!
//! # Where a script runs
//!
//! EVAL, EVALSHA and FCALL name their keys through numkeys, and route like
//! any command by those keys: on the shard that owns them all (inline on
//! the connection's own shard, the fast path), or, when they span shards,
//! by copy on a scratch shard with every key locked (kevy-rt's crate doc,
//! "Transactions"). `redis.call` runs the command through the command
//! table on the shard the script runs on, as a nested execution whose
//! effects are recorded (`propagate.rs`): the log gets the commands the
//! script ran, never the script.
//!
//! # Keys a script did not declare
//!
//! A key a script reaches without declaring it is usable when it lives on
//! the shard the script runs on and no transaction holds or waits for keys
//! there (never on a scratch shard of declared keys): [`engine::reachable`]
//! decides. Any other key stops the script at that `redis.call`, whatever
//! `pcall` around it says, and undoes what the script wrote (see
//! `engine.rs`). The script then asks the runtime to run it again over the
//! whole keyspace (kevy-rt's `Sink::escalate`): a transaction holding every
//! shard whole, by copy on a scratch shard that carries an [`Escalation`].
//! There it runs in rounds ([`discover`], the runtime's `copy_keys`): each
//! run reaches the keys copied so far, notes the ones not copied yet (run
//! on as if they did not exist) and is undone; the runtime copies those
//! keys in, and the next round runs. The first run that reaches only
//! copied keys ends the rounds; the script then runs once more for real,
//! and what it wrote goes back to the shards. Rounds are bounded
//! ([`MAX_ROUNDS`]); a script that still reaches new keys then (or whose
//! final run reaches a key no round did: keys derived from the clock) is
//! answered with [`TOO_MANY_ROUNDS`]. A command over the whole keyspace
//! (KEYS, SCAN, DBSIZE, FLUSHALL, …) stops a run the same way; in the
//! rounds it has every shard's key names copied in ([`wants_names`]).
//! So does SORT with BY or GET patterns, whose keys, in the rounds, are
//! those its patterns name from the copies so far. Inside MULTI the
//! runtime takes the whole block back and runs it over the whole keyspace
//! (kevy-rt's crate doc, "Scripts inside MULTI").

mod convert;
pub mod engine;
mod hooks;
pub mod lualib;
pub mod sha1;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How many rounds a script run over the whole keyspace may take to find
/// its keys: each round is a run on the copies and a trip to the shards
/// for the keys it reached that were not copied. A script's key names
/// usually come from its arguments and from values it reads, so the
/// rounds are the depth of that chain plus one (two for most); 16 leaves
/// room for scripts that follow pointers, and bounds the work of one that
/// reaches new keys on every run.
pub const MAX_ROUNDS: u32 = 16;

/// The error a script gets when its rounds do not settle.
pub const TOO_MANY_ROUNDS: &str = "ERR Script kept reaching new keys on other shards: each run \
     reached keys the previous one did not (kevy gives up after 16 runs)";

/// A script running over the whole keyspace, on a scratch shard (see
/// "Keys a script did not declare" above).
#[derive(Default, Debug)]
pub struct Escalation {
    /// The keys copied in so far (whether they exist or not).
    pub copied: std::collections::HashSet<Vec<u8>, ahash::RandomState>,
    /// The keys the run in progress reached that are not copied.
    pub missing: std::collections::HashSet<Vec<u8>, ahash::RandomState>,
    /// The run in progress is a round that finds keys (undone at its end).
    pub discovering: bool,
    pub rounds: u32,
    /// The answer, when the script is not to run again (too many rounds,
    /// killed while finding its keys).
    pub verdict: Option<String>,
    /// A run reached a command over the whole keyspace (KEYS, SCAN,
    /// DBSIZE, RANDOMKEY, FLUSHDB, FLUSHALL, SWAPDB): it needs every
    /// shard's key names.
    pub wants_names: bool,
    /// Every shard's key names are in the scratch shard (or on their way,
    /// ahead of the next round): stand-ins of each key's type, replaced
    /// by a copy once a command reaches the key itself.
    pub has_names: bool,
    /// The thread's random generator as the first run found it: every
    /// run starts from it, so RANDOMKEY, SPOP, SRANDMEMBER pick the same
    /// in each round and in the final run.
    pub rng: Option<u64>,
    /// RANDOMKEY's picks in the last run, in order, with their database
    /// (engine.rs, `random_pick`), and how many the run in progress made.
    pub picks: Vec<(usize, Option<Vec<u8>>)>,
    pub pick_at: usize,
}

/// Whether a script run over the whole keyspace on `scratch` needs every
/// shard's key names now (the runtime's `copy_names`): once, after a
/// round that reached a command over the whole keyspace.
pub fn wants_names(scratch: &mut crate::shard::Shard) -> bool {
    let Some(e) = scratch.escalation.as_mut() else {
        return false;
    };
    if !e.wants_names || e.has_names || e.verdict.is_some() {
        return false;
    }
    e.has_names = true;
    true
}

/// Whether `spec` runs a script (EVAL, EVALSHA, FCALL and their `_RO`
/// forms): the only commands flagged `no_mandatory_keys`, as in Redis.
#[inline]
pub fn is_script(spec: &crate::table::CommandSpec) -> bool {
    spec.flags & crate::table::flag::NO_MANDATORY_KEYS != 0
}

/// One round of a script run over the whole keyspace (the runtime's
/// `copy_keys`): runs it on `scratch` as far as the keys copied so far
/// take it, undoes the run, and returns the keys it reached that are not
/// copied (none when the rounds are over).
pub fn discover(
    scratch: &mut crate::shard::Shard,
    client: &kevy_rt::ClientCtx,
    spec: &crate::table::CommandSpec,
    args: kevy_resp::Args<'_>,
) -> Vec<Vec<u8>> {
    let crate::table::Handler::Shard(f) = spec.run else {
        return Vec::new();
    };
    let e = scratch.escalation.get_or_insert_with(Default::default);
    if e.verdict.is_some() {
        return Vec::new();
    }
    e.rounds += 1;
    if e.rounds > MAX_ROUNDS {
        e.verdict = Some(TOO_MANY_ROUNDS.into());
        return Vec::new();
    }
    e.discovering = true;
    e.missing.clear();
    let mut out = Vec::new();
    f(&mut crate::ctx::Ctx {
        shard: &mut *scratch,
        db: client.db as usize,
        client,
        args,
        out: kevy_resp::Reply::new(&mut out, client.resp3),
    });
    let Some(e) = scratch.escalation.as_mut() else {
        return Vec::new();
    };
    e.discovering = false;
    std::mem::take(&mut e.missing).into_iter().collect()
}

/// Script flags (the shebang's `flags=` and `redis.register_function`'s
/// `flags`), as Redis names them.
pub mod flags {
    pub const NO_WRITES: u32 = 1 << 0;
    pub const ALLOW_OOM: u32 = 1 << 1;
    pub const ALLOW_STALE: u32 = 1 << 2;
    pub const NO_CLUSTER: u32 = 1 << 3;
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
    /// An EVAL script without a shebang: Redis's compatibility mode, where
    /// the flags do not apply.
    pub const EVAL_COMPAT: u32 = 1 << 5;

    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];
}

/// The server's scripts: the source of every script by SHA-1 (as
/// lowercase hex).
pub struct Scripts {
    bodies: Mutex<HashMap<[u8; 40], Arc<[u8]>>>,
    /// Bumped by SCRIPT FLUSH (Release, paired with the Acquire load of a
    /// thread checking its cache).
    generation: AtomicU64,
    libraries: Mutex<engine::Libraries>,
    /// Bumped by every change of the libraries (same pairing).
    fn_generation: AtomicU64,
    /// `busy-reply-threshold` in milliseconds (0: never busy).
    busy_threshold_ms: AtomicU64,
    /// How many scripts run past the threshold: while any does, other
    /// connections get `-BUSY` (one load per command while none does).
    busy: AtomicUsize,
    /// Those scripts, for SCRIPT KILL and FUNCTION KILL.
    running: Mutex<Vec<Arc<Running>>>,
}

/// A script running past `busy-reply-threshold`, as SCRIPT KILL sees it.
#[derive(Debug, Default)]
pub struct Running {
    /// It ran a write command: it cannot be killed.
    pub wrote: AtomicBool,
    /// It is a function (FCALL): FUNCTION KILL kills it, SCRIPT KILL not.
    pub function: AtomicBool,
    /// SCRIPT KILL or FUNCTION KILL asked it to stop.
    pub kill: AtomicBool,
    /// For a function: its name, the FCALL command, and when it started
    /// (FUNCTION STATS's `running_script`).
    pub call: Mutex<Option<RunningCall>>,
}

/// What FUNCTION STATS shows of a running function.
#[derive(Debug, Clone)]
pub struct RunningCall {
    pub name: Vec<u8>,
    pub command: Vec<Vec<u8>>,
    pub started: std::time::Instant,
}

/// The BUSY errors, for an EVAL script and for a function.
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            bodies: Default::default(),
            generation: Default::default(),
            libraries: Default::default(),
            fn_generation: Default::default(),
            busy_threshold_ms: AtomicU64::new(5000),
            busy: AtomicUsize::new(0),
            running: Default::default(),
        }
    }
}

impl Scripts {
    /// `busy-reply-threshold` (`lua-time-limit`) changed.
    pub fn set_busy_threshold(&self, ms: u64) {
        self.busy_threshold_ms.store(ms, Ordering::Relaxed);
    }

    pub fn busy_threshold_ms(&self) -> u64 {
        self.busy_threshold_ms.load(Ordering::Relaxed)
    }

    /// Whether a script runs past the threshold (Relaxed: a command that
    /// arrives just as one passes it runs after it anyway, on its shard).
    #[inline]
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed) != 0
    }

    /// The BUSY error for the running script, if one is busy.
    pub fn busy_error(&self) -> Option<&'static str> {
        let running = self.lock_running();
        let r = running.first()?;
        Some(if r.function.load(Ordering::Relaxed) {
            BUSY_FUNCTION
        } else {
            BUSY_EVAL
        })
    }

    /// A script passed the threshold.
    pub(crate) fn became_busy(&self, r: Arc<Running>) {
        self.lock_running().push(r);
        self.busy.fetch_add(1, Ordering::Relaxed);
    }

    /// A busy script ended.
    pub(crate) fn not_busy(&self, r: &Arc<Running>) {
        let mut running = self.lock_running();
        if let Some(i) = running.iter().position(|x| Arc::ptr_eq(x, r)) {
            running.swap_remove(i);
            self.busy.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The busy script FUNCTION STATS reports: `Err` with the BUSY error
    /// while an EVAL script is busy (Redis refuses then), `Ok(None)` when
    /// none is, else the function's name, command and start.
    pub fn running_function(&self) -> Result<Option<RunningCall>, &'static str> {
        let running = self.lock_running();
        let Some(r) = running.first() else {
            return Ok(None);
        };
        if !r.function.load(Ordering::Relaxed) {
            return Err(BUSY_EVAL);
        }
        let call = r.call.lock().unwrap_or_else(|e| e.into_inner());
        Ok(call.clone())
    }

    /// SCRIPT KILL (`function` false) or FUNCTION KILL: the reply's error,
    /// or `None` when the script was asked to stop.
    pub fn kill(&self, function: bool) -> Option<&'static str> {
        let running = self.lock_running();
        let Some(r) = running.first() else {
            return Some("NOTBUSY No scripts in execution right now.");
        };
        match (function, r.function.load(Ordering::Relaxed)) {
            (false, true) => return Some(BUSY_FUNCTION),
            (true, false) => return Some(BUSY_EVAL),
            _ => {}
        }
        // Stores `kill`, then reads `wrote`; the script stores `wrote`,
        // then reads `kill` (engine.rs): one of the two sees the other.
        r.kill.store(true, Ordering::SeqCst);
        if r.wrote.load(Ordering::SeqCst) {
            r.kill.store(false, Ordering::SeqCst);
            return Some(
                "UNKILLABLE Sorry the script already executed write commands against the \
                 dataset. You can either wait the script termination or kill the server in a \
                 hard way using the SHUTDOWN NOSAVE command.",
            );
        }
        None
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Running>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The source of script `sha`, if the server has it.
    pub fn body(&self, sha: &[u8; 40]) -> Option<Arc<[u8]>> {
        self.lock_bodies().get(sha).cloned()
    }

    /// Adds a script (EVAL of a new body, SCRIPT LOAD).
    pub fn add(&self, sha: [u8; 40], body: &[u8]) {
        self.lock_bodies().entry(sha).or_insert_with(|| body.into());
    }

    pub fn exists(&self, sha: &[u8]) -> bool {
        let Some(key) = sha_key(sha) else {
            return false;
        };
        self.lock_bodies().contains_key(&key)
    }

    /// SCRIPT FLUSH: forgets every script, here and (through the
    /// generation) in every thread's cache.
    pub fn flush(&self) {
        let mut b = self.lock_bodies();
        b.clear();
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// How many scripts and how many bytes of source (INFO memory).
    pub fn stats(&self) -> (usize, usize) {
        let b = self.lock_bodies();
        (b.len(), b.values().map(|v| v.len() + 40).sum())
    }

    pub(crate) fn fn_generation(&self) -> u64 {
        self.fn_generation.load(Ordering::Acquire)
    }

    /// The libraries changed (their lock released): threads reload them,
    /// and snapshots take the new code.
    pub(crate) fn libraries_changed(&self, persist: &crate::persist::Persist) {
        let codes = self
            .lock_libraries()
            .libs
            .values()
            .map(|l| l.code.to_vec())
            .collect();
        persist.set_libraries(codes);
        self.fn_generation.fetch_add(1, Ordering::Release);
    }

    /// The function libraries (FUNCTION LOAD, DELETE, FLUSH, RESTORE,
    /// LIST, and a thread reloading its functions).
    pub fn lock_libraries(&self) -> std::sync::MutexGuard<'_, engine::Libraries> {
        self.libraries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_bodies(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 40], Arc<[u8]>>> {
        self.bodies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A SHA-1 as given by a client, lowercased; `None` unless 40 bytes.
pub fn sha_key(sha: &[u8]) -> Option<[u8; 40]> {
    let mut key = [0u8; 40];
    if sha.len() != 40 {
        return None;
    }
    for (k, b) in key.iter_mut().zip(sha) {
        *k = b.to_ascii_lowercase();
    }
    Some(key)
}
