//! Loading the data at start-up while the shards serve.
//!
//! The reactors start at once. A loader thread reads the files (the
//! `dump.rdb`, or with `appendonly yes` each shard's log files) and sends
//! each shard what it must apply over a bounded channel; each shard drains
//! its channel from its own loop, a bounded number of items per
//! iteration ([`step`]), so its connections are served meanwhile (the
//! reactor does not sleep while a shard loads: `Service::busy`).
//!
//! Until **every** shard has finished, commands without the `loading` flag
//! are refused with Redis's `-LOADING` (`Kevy::route`): a multi-key
//! command or a transaction spans shards, so one shard done is not enough.
//! The state is one server-wide count of shards still loading,
//! [`SHARDS_LOADING`], read per command with one well-predicted branch.
//!
//! While a shard loads its clock is stopped (at 0): nothing expires, as in
//! Redis, and with the log every expiry the shard applied is in the log as
//! a `DEL` anyway. What is loaded is saved already: the shard's change
//! counter starts at 0 when loading ends.

use crate::service::Kevy;
use crate::shard::Shard;
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use kevy_persist::aof::{Recovered, Replay};
use kevy_persist::rdb;
use std::io::Read;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Shards still loading. Non-zero only during start-up.
pub static SHARDS_LOADING: AtomicUsize = AtomicUsize::new(0);

/// Whether the server is still loading its data.
#[inline(always)]
pub fn in_progress() -> bool {
    SHARDS_LOADING.load(Relaxed) != 0
}

/// `key-load-delay`: µs each key (or command of the log) waits after it
/// is applied, as Redis's `debugDelay`; below zero, 1 µs once every
/// `-delay` of them. A knob for tests that must see a load in progress.
/// Each shard waits for its own keys (shards load in parallel), and the
/// waits add up before the thread sleeps, at least 1 ms at a time, so a
/// load takes the time the setting says whatever the timer's grain.
static KEY_DELAY: AtomicI64 = AtomicI64::new(0);

pub fn set_key_delay(us: i64) {
    KEY_DELAY.store(us, Relaxed);
}

/// What `key-load-delay` makes a shard wait after one applied key.
fn key_delay(l: &mut ShardLoad) {
    let d = KEY_DELAY.load(Relaxed);
    if d == 0 {
        return;
    }
    l.delayed_keys += 1;
    l.owed_us += match d {
        1.. => d,
        _ => l.delayed_keys.is_multiple_of(d.unsigned_abs()) as i64,
    };
    if l.owed_us >= 1000 {
        let t0 = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_micros(l.owed_us as u64));
        l.owed_us -= t0.elapsed().as_micros() as i64;
    }
}

/// Redis's answer to a command it does not run while loading.
pub const LOADING_ERR: &str = "LOADING Redis is loading the dataset in memory";

/// Items a shard applies per loop iteration (and per channel slot the
/// loader may run ahead by).
const STEP_ITEMS: usize = 1024;
const CHANNEL_ITEMS: usize = 4096;

/// How often a long load says how far it is.
const PROGRESS_EVERY: u64 = 1_000_000;

/// What a shard applies, in order.
pub enum Item {
    /// A key of the `dump.rdb` or of the shard's RDB base.
    Key(rdb::Loaded),
    /// The log's database changes (where a file starts, or skipped
    /// effects changed it).
    Select(u32),
    /// Effects read back from the log: RESP arrays.
    Apply(Vec<u8>),
    /// The shard's log, opened for appending once the files are read.
    Log(Box<crate::aof::OpenedLog>),
    /// A function library's code (FUNCTION2 records of an RDB file).
    Library(Vec<u8>),
}

/// The load in progress, as INFO reports it.
#[derive(Default)]
pub struct Progress {
    /// Unix seconds when loading started.
    pub start_secs: AtomicU64,
    pub total_bytes: AtomicU64,
    pub loaded_bytes: AtomicU64,
    /// The `used-mem` the RDB file says it was saved with.
    pub rdb_used_mem: AtomicU64,
    /// Keys and records applied so far, summed over shards.
    applied: AtomicU64,
    /// What the RDB load found (`rdb_last_load_keys_*`, set when the
    /// file is read).
    keys: AtomicU64,
    expired: AtomicU64,
    t0: Mutex<Option<std::time::Instant>>,
}

pub static PROGRESS: std::sync::LazyLock<Progress> = std::sync::LazyLock::new(Progress::default);

/// The receiving ends, one per shard, each taken by its shard's thread.
#[derive(Default)]
pub struct Channels {
    rx: Mutex<Vec<Option<Receiver<Item>>>>,
}

impl Channels {
    fn new(rx: Vec<Receiver<Item>>) -> Self {
        Channels {
            rx: Mutex::new(rx.into_iter().map(Some).collect()),
        }
    }

    /// Shard `id`'s load, if there is one.
    pub fn take(&self, id: usize, aof: bool) -> Option<Box<ShardLoad>> {
        let mut rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        let rx = rx.get_mut(id)?.take()?;
        Some(Box::new(ShardLoad {
            rx,
            db: 0,
            aof,
            now: 0,
            delayed_keys: 0,
            owed_us: 0,
        }))
    }
}

/// One shard's load in progress.
pub struct ShardLoad {
    rx: Receiver<Item>,
    /// The log's current database.
    db: u32,
    /// Items come from the log (an RDB base may repeat nothing, but log
    /// effects overwrite keys freely); otherwise a key seen twice is an
    /// error, as in Redis.
    aof: bool,
    /// The clock the shard had when loading started.
    now: u64,
    /// Keys applied under `key-load-delay`, and the µs it owes them.
    delayed_keys: u64,
    owed_us: i64,
}

/// A bounded channel per shard.
fn channels(n: usize) -> (Vec<Sender<Item>>, Channels) {
    let (tx, rx): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| crossbeam_channel::bounded(CHANNEL_ITEMS))
        .unzip();
    (tx, Channels::new(rx))
}

fn begin(n: usize, total_bytes: u64) {
    let p = &*PROGRESS;
    p.start_secs
        .store(kevy_sys::clock::unix_ms() / 1000, Relaxed);
    p.total_bytes.store(total_bytes, Relaxed);
    p.loaded_bytes.store(0, Relaxed);
    *p.t0.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
    SHARDS_LOADING.store(n, Relaxed);
}

fn fatal(what: &str, e: impl std::fmt::Display) -> ! {
    crate::log!(Warning, "fatal error loading the {what}: {e}. Exiting.");
    std::process::exit(1);
}

/// Counts the bytes read from the file (INFO `loading_loaded_bytes`).
struct Counted<R>(R);

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let got = self.0.read(buf)?;
        PROGRESS.loaded_bytes.fetch_add(got as u64, Relaxed);
        Ok(got)
    }
}

/// Starts loading the `dump.rdb` into the shards of `slots`, each key to
/// the shard that owns it; `None` when there is no file (an empty
/// keyspace).
pub fn start_rdb(
    slots: Arc<kevy_rt::SlotMap>,
    persist: Arc<crate::persist::Persist>,
) -> Result<Option<Channels>, String> {
    let n = slots.shards();
    let (dir, file) = crate::persist::target();
    let path = dir.join(&file);
    if !path.exists() {
        return Ok(None);
    }
    let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let size = f.metadata().map_or(0, |m| m.len());
    begin(n, size);
    let (tx, rx) = channels(n);
    let spawned = std::thread::Builder::new()
        .name("kevy-load".into())
        .spawn(move || {
            let now = kevy_sys::clock::unix_ms();
            let t0 = std::time::Instant::now();
            let mut read = 0u64;
            let mut info = rdb::load(Counted(std::io::BufReader::new(f)), size, now, |k| {
                read += 1;
                if read.is_multiple_of(PROGRESS_EVERY) {
                    crate::log!(
                        Notice,
                        "loading {}: {read} keys read in {:.1} s ({} of {size} bytes)",
                        path.display(),
                        t0.elapsed().as_secs_f64(),
                        PROGRESS.loaded_bytes.load(Relaxed)
                    );
                }
                if k.db >= crate::server::databases() {
                    return Err(format!(
                        "database {} out of range (0..{})",
                        k.db,
                        crate::server::databases()
                    ));
                }
                let s = slots.shard_of(&k.key);
                tx[s]
                    .send(Item::Key(k))
                    .map_err(|_| "a shard stopped loading".to_string())
            })
            .unwrap_or_else(|e| fatal("DB", format!("{}: {e}", path.display())));
            // Function libraries are the server's: shard 0 installs them.
            for code in std::mem::take(&mut info.libraries) {
                if tx[0].send(Item::Library(code)).is_err() {
                    break;
                }
            }
            let used = info
                .aux
                .iter()
                .find(|(k, _)| k == b"used-mem")
                .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
                .unwrap_or(0);
            PROGRESS.rdb_used_mem.store(used, Relaxed);
            PROGRESS.keys.store(info.keys, Relaxed);
            PROGRESS.expired.store(info.expired, Relaxed);
            persist.loaded_keys.store(info.keys, Relaxed);
            persist.loaded_expired.store(info.expired, Relaxed);
            // Dropping the senders tells each shard its keys are all sent.
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start the loading thread: {e}"));
    }
    Ok(Some(rx))
}

/// Starts reading the append-only log: a thread reads every shard's files
/// and decides what survives ([`crate::aof::boot`]), then hands each shard
/// its log and one thread per shard reads that shard's records.
pub fn start_aof(server: Arc<crate::server::Server>) -> Channels {
    let n = server.config.shards;
    // The files' size, for INFO from the start (the loader thread counts
    // again once it knows which files the manifests list).
    let total = crate::aof::layout().map_or(0, |(l, _)| {
        std::fs::read_dir(&l.dir).map_or(0, |d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&l.name))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
    });
    begin(n, total);
    let (tx, rx) = channels(n);
    let spawned = std::thread::Builder::new()
        .name("kevy-load".into())
        .spawn(move || {
            let kevy = Kevy::new(server);
            let boot = match crate::aof::boot(&kevy, n) {
                Ok(Some(b)) => b,
                Ok(None) => fatal("append-only log", "appendonly is off"),
                Err(e) => fatal("append-only log", e),
            };
            PROGRESS.total_bytes.store(boot.total_bytes(), Relaxed);
            for (s, tx) in tx.into_iter().enumerate() {
                if let Some(log) = boot.take_log(s) {
                    if tx.send(Item::Log(Box::new(log))).is_err() {
                        return;
                    }
                }
                let rec = boot.recovered.clone();
                let spawned = std::thread::Builder::new()
                    .name("kevy-load".into())
                    .spawn(move || read_log(&rec, s, tx));
                if let Err(e) = spawned {
                    fatal(
                        "append-only log",
                        format!("cannot start a loading thread: {e}"),
                    );
                }
            }
        });
    if let Err(e) = spawned {
        fatal(
            "append-only log",
            format!("cannot start the loading thread: {e}"),
        );
    }
    rx
}

/// Sends shard `s`'s surviving records, its RDB base first.
fn read_log(rec: &Recovered, s: usize, tx: Sender<Item>) {
    if s >= rec.shards() {
        // A new log: nothing to replay.
        return;
    }
    let gone = || std::io::Error::other("the shard stopped loading");
    let done = rec.replay(s, |r| {
        match r {
            Replay::RdbBase(path) => {
                let f = std::fs::File::open(path)?;
                let size = f.metadata()?.len();
                let info = rdb::load(Counted(std::io::BufReader::new(f)), size, 0, |k| {
                    tx.send(Item::Key(k))
                        .map_err(|_| "the shard stopped loading".to_string())
                })
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
                for code in info.libraries {
                    tx.send(Item::Library(code)).map_err(|_| gone())?;
                }
            }
            Replay::Select(db) => tx.send(Item::Select(db)).map_err(|_| gone())?,
            Replay::Apply(resp) => {
                PROGRESS
                    .loaded_bytes
                    .fetch_add(resp.len() as u64 + 9, Relaxed);
                tx.send(Item::Apply(resp.to_vec())).map_err(|_| gone())?
            }
        }
        Ok(())
    });
    if let Err(e) = done {
        fatal(
            "append-only log",
            format!("replaying the append-only log of shard {s}: {e}"),
        );
    }
}

/// Stops the shard's clock for the load.
pub fn started(shard: &mut Shard) {
    if let Some(l) = shard.loading.as_mut() {
        l.now = shard.store.now();
        shard.store.set_now(0);
    }
}

/// Applies up to a step of the shard's load; when everything is in,
/// restarts its clock and counts the shard done.
pub fn step(kevy: &Kevy, shard: &mut Shard) {
    let Some(mut l) = shard.loading.take() else {
        return;
    };
    let mut applied = 0u64;
    let mut finished = false;
    for _ in 0..STEP_ITEMS {
        match l.rx.try_recv() {
            Ok(item) => {
                apply(kevy, shard, &mut l, item);
                applied += 1;
            }
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => {
                finished = true;
                break;
            }
        }
    }
    if applied != 0 {
        let before = PROGRESS.applied.fetch_add(applied, Relaxed);
        let after = before + applied;
        if before / PROGRESS_EVERY != after / PROGRESS_EVERY {
            crate::log!(
                Notice,
                "loading: {} keys or records applied in {:.1} s ({} of {} bytes read)",
                after / PROGRESS_EVERY * PROGRESS_EVERY,
                elapsed(),
                PROGRESS.loaded_bytes.load(Relaxed),
                PROGRESS.total_bytes.load(Relaxed)
            );
        }
    }
    if !finished {
        shard.loading = Some(l);
        return;
    }
    shard.store.set_now(l.now.max(kevy_sys::clock::unix_ms()));
    shard.store.dirty = 0;
    if SHARDS_LOADING.fetch_sub(1, Relaxed) == 1 {
        let p = &*PROGRESS;
        if l.aof {
            crate::log!(
                Notice,
                "DB loaded from append only file: {:.3} seconds",
                elapsed()
            );
        } else {
            crate::log!(
                Notice,
                "DB loaded from disk: {} keys in {:.3} seconds ({} expired skipped)",
                p.keys.load(Relaxed),
                elapsed(),
                p.expired.load(Relaxed)
            );
        }
    }
}

fn elapsed() -> f64 {
    let t0 = PROGRESS.t0.lock().unwrap_or_else(|e| e.into_inner());
    t0.map_or(0.0, |t| t.elapsed().as_secs_f64())
}

fn apply(kevy: &Kevy, shard: &mut Shard, l: &mut ShardLoad, item: Item) {
    match item {
        Item::Key(k) => {
            let ttl = k
                .expire_at
                .map_or(kevy_store::SetTtl::Clear, kevy_store::SetTtl::At);
            let id = shard.id;
            let replaced = shard.store.db(k.db).set(&k.key, k.value, ttl);
            if replaced.is_some() && !l.aof {
                fatal("DB", format!("shard {id}: the key appears twice"));
            }
            key_delay(l);
        }
        Item::Select(db) => l.db = db,
        Item::Log(log) => shard.aof = Some(log.into_shard_log()),
        Item::Library(code) => {
            if let Err(e) = crate::scripting::engine::function_load(&kevy.server, &code, true) {
                fatal("DB", format!("loading a function library: {e}"));
            }
        }
        Item::Apply(resp) => {
            let mut rest = &resp[..];
            while !rest.is_empty() {
                let Some((argv, used)) = crate::aof::parse_array(rest) else {
                    fatal("append-only log", "an effect that is not a RESP array");
                };
                rest = &rest[used..];
                if argv
                    .first()
                    .is_some_and(|a| a.eq_ignore_ascii_case(b"select"))
                {
                    l.db = argv
                        .get(1)
                        .and_then(|d| std::str::from_utf8(d).ok()?.parse().ok())
                        .unwrap_or(l.db);
                    continue;
                }
                if let Err(e) = kevy.replay(shard, l.db, &argv) {
                    fatal(
                        "append-only log",
                        format!("replaying the append-only log of shard {}: {e}", shard.id),
                    );
                }
                key_delay(l);
            }
        }
    }
}

/// INFO's loading fields (Redis's `genRedisInfoString`), while loading.
pub fn info_fields() -> Option<[(&'static str, String); 6]> {
    if !in_progress() {
        return None;
    }
    let p = &*PROGRESS;
    let total = p.total_bytes.load(Relaxed);
    let mut loaded = p.loaded_bytes.load(Relaxed);
    if total != 0 {
        loaded = loaded.min(total);
    }
    let (perc, remaining) = if total != 0 {
        (
            loaded as f64 / total as f64 * 100.0,
            total.saturating_sub(loaded),
        )
    } else {
        (0.0, 1)
    };
    let start = p.start_secs.load(Relaxed);
    let elapsed = (kevy_sys::clock::unix_ms() / 1000).saturating_sub(start);
    let eta = if elapsed == 0 {
        1
    } else {
        (elapsed as u128 * remaining as u128 / (loaded as u128 + 1)) as u64
    };
    Some([
        ("loading_start_time", start.to_string()),
        ("loading_total_bytes", total.to_string()),
        (
            "loading_rdb_used_mem",
            p.rdb_used_mem.load(Relaxed).to_string(),
        ),
        ("loading_loaded_bytes", loaded.to_string()),
        ("loading_loaded_perc", format!("{perc:.2}")),
        ("loading_eta_seconds", eta.to_string()),
    ])
}
