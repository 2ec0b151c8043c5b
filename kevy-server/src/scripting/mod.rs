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
//! the shard the script runs on (never on a scratch shard, which holds the
//! declared keys only): [`engine::reachable`] decides. Any other key stops
//! the script at that `redis.call`, whatever `pcall` around it says, and
//! undoes what the script wrote (see `engine.rs`); the client gets the
//! error Redis Cluster gives for a key of another node.

mod convert;
pub mod engine;
pub mod lualib;
pub mod sha1;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
#[derive(Default)]
pub struct Scripts {
    bodies: Mutex<HashMap<[u8; 40], Arc<[u8]>>>,
    /// Bumped by SCRIPT FLUSH (Release, paired with the Acquire load of a
    /// thread checking its cache).
    generation: AtomicU64,
    libraries: Mutex<engine::Libraries>,
    /// Bumped by every change of the libraries (same pairing).
    fn_generation: AtomicU64,
}

impl Scripts {
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

    pub(crate) fn libraries_changed(&self) {
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
