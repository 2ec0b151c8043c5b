//! Snapshots of the whole keyspace into one `dump.rdb` (SAVE, BGSAVE, the
//! save points, loading at start-up), on top of kevy-persist's RDB writer.
//!
//! # How a snapshot is taken
//!
//! SAVE and BGSAVE are whole-keyspace commands: the runtime runs them as a
//! transaction that locks every shard whole, and runs one part per shard.
//! Each part is that shard's *cut*: the moment its section of the file
//! describes. A shard's lock is held from its part until every shard ran
//! its part, so the cuts together are one moment of the whole keyspace: no
//! command runs on a shard between its cut and the last shard's, and a
//! transaction that spans shards is either before every cut or after.
//!
//! - **SAVE** writes each shard's section inside its part (the shard
//!   blocks, as Redis blocks on SAVE); the part that completes the set
//!   joins the sections into `dump.rdb` before it answers.
//! - **BGSAVE** starts a fork-less snapshot in each part
//!   ([`kevy_persist::rdb::Snapshot`]): the shard goes on serving, and its
//!   loop writes the section a bounded amount at a time
//!   ([`step_snapshot`]); a value about to change before it is written is
//!   written first. The shard that finishes last hands the sections to a
//!   thread that joins them into `dump.rdb` (fsync, rename, fsync of the
//!   directory), so a crash leaves the old file or the new one.
//!
//! The parts of one SAVE or BGSAVE run back to back in the lock order of
//! the transaction, and another whole-keyspace command waits for all of
//! them: so the state below sees one command's parts join before another's
//! first part (Idle → Joining → Running → Idle).
//!
//! What crosses threads is this module's [`Persist`] (one per server,
//! shared by the shards) behind a mutex taken only by these commands, by a
//! shard finishing its section, and by INFO.

use kevy_persist::rdb::{self, Aux, Snapshot};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

/// The save in progress, if any.
#[derive(Default)]
enum Phase {
    #[default]
    Idle,
    /// Parts are still joining (the command's transaction is running).
    Joining,
    /// Every shard took its cut; sections are being written.
    Running,
}

#[derive(Default)]
struct Job {
    /// Which save this is (each new one takes the next number).
    gen: u64,
    phase: Phase,
    /// SAVE (sections written inside the parts) rather than BGSAVE.
    foreground: bool,
    /// Each shard's section file, once written (`None`: not yet, or its
    /// writing failed).
    sections: Vec<Option<PathBuf>>,
    joined: usize,
    done: usize,
    failed: bool,
    /// The sum of the shards' change counters at their cuts.
    dirty_at_cut: u64,
    /// Unix ms when the first part joined.
    started_ms: u64,
    dir: PathBuf,
    file: String,
}

/// What every shard shares about snapshots (and INFO reports).
pub struct Persist {
    job: Mutex<Job>,
    /// The last generation started.
    gens: AtomicU64,
    /// The generation of the file on disk: an older save finishing late
    /// never replaces a newer one. Held while a file is written.
    written: Mutex<u64>,
    /// Unix seconds of the last successful save (start-up counts as one,
    /// as in Redis).
    pub lastsave: AtomicU64,
    /// `rdb_last_bgsave_status`.
    pub last_ok: AtomicBool,
    /// Unix ms of the last failed attempt (save points retry after 5 s).
    pub last_try_ms: AtomicU64,
    /// `rdb_bgsave_in_progress`.
    pub in_progress: AtomicBool,
    /// `rdb_last_bgsave_time_sec`.
    pub last_secs: AtomicI64,
    /// `rdb_saves`.
    pub saves: AtomicU64,
    /// The shards' change counters summed at the last successful save's
    /// cut (`rdb_changes_since_last_save` counts from there).
    pub saved_dirty: AtomicU64,
    /// What the start-up load found (`rdb_last_load_keys_*`).
    pub loaded_keys: AtomicU64,
    pub loaded_expired: AtomicU64,
    /// The function libraries' code as of their last change: what a
    /// snapshot and shard 0's log base hold (kept here by the scripting
    /// commands, so a save needs no other state).
    libraries: Mutex<Vec<Vec<u8>>>,
}

impl Persist {
    /// The function libraries a snapshot holds.
    pub fn libraries(&self) -> Vec<Vec<u8>> {
        self.libraries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The function libraries changed.
    pub fn set_libraries(&self, codes: Vec<Vec<u8>>) {
        *self.libraries.lock().unwrap_or_else(|e| e.into_inner()) = codes;
    }
}

impl Default for Persist {
    fn default() -> Self {
        Persist {
            job: Mutex::default(),
            gens: AtomicU64::new(0),
            written: Mutex::new(0),
            lastsave: AtomicU64::new(kevy_sys::clock::unix_ms() / 1000),
            last_ok: AtomicBool::new(true),
            last_try_ms: AtomicU64::new(0),
            in_progress: AtomicBool::new(false),
            last_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            saved_dirty: AtomicU64::new(0),
            loaded_keys: AtomicU64::new(0),
            loaded_expired: AtomicU64::new(0),
            libraries: Mutex::default(),
        }
    }
}

/// One shard's BGSAVE in progress: the snapshot and its section file.
pub struct ShardSnapshot {
    snap: Snapshot<BufWriter<File>>,
    path: PathBuf,
    /// The save it belongs to.
    gen: u64,
}

pub const IN_PROGRESS: &str = "ERR Background save already in progress";
pub const STARTED: &str = "Background saving started";

impl Persist {
    /// Drops a BGSAVE whose sections are still being written (SHUTDOWN
    /// saves in the foreground instead). One whose sections are all in goes
    /// on; the generation check in `complete` keeps it from replacing a
    /// newer file.
    fn abandon_background(&self) {
        let mut job = self.job();
        if !job.foreground && !matches!(job.phase, Phase::Idle) {
            for p in job.sections.iter().flatten() {
                let _ = std::fs::remove_file(p);
            }
            *job = Job::default();
            self.in_progress.store(false, Relaxed);
        }
    }

    fn job(&self) -> MutexGuard<'_, Job> {
        self.job.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unix ms of the current save's start, when one runs.
    pub fn current_started_ms(&self) -> Option<u64> {
        let job = self.job();
        match job.phase {
            Phase::Idle => None,
            _ => Some(job.started_ms),
        }
    }

    /// Joins a shard (of `n`) to a save, starting one when none is in
    /// progress. `Err`: another save is in progress.
    fn join(&self, n: usize, foreground: bool, dirty: u64) -> Result<u64, &'static str> {
        let mut job = self.job();
        match job.phase {
            Phase::Idle => {
                let (dir, file) = target();
                *job = Job {
                    gen: self.gens.fetch_add(1, Relaxed) + 1,
                    phase: Phase::Joining,
                    foreground,
                    sections: vec![None; n],
                    started_ms: kevy_sys::clock::unix_ms(),
                    dir,
                    file,
                    ..Job::default()
                };
                self.in_progress.store(!foreground, Relaxed);
                if !foreground {
                    crate::log!(Notice, "{STARTED}");
                }
            }
            Phase::Joining if job.foreground == foreground => {}
            _ => return Err(IN_PROGRESS),
        }
        job.joined += 1;
        job.dirty_at_cut += dirty;
        if job.joined == n {
            job.phase = Phase::Running;
        }
        Ok(job.gen)
    }

    /// Records shard `id`'s finished section (`None`: it failed). When it
    /// is the last, returns the job to complete.
    fn section_done(&self, gen: u64, id: usize, path: Option<PathBuf>) -> Option<Job> {
        let mut job = self.job();
        if job.gen != gen {
            // A save abandoned meanwhile.
            if let Some(p) = path {
                let _ = std::fs::remove_file(p);
            }
            return None;
        }
        if path.is_none() {
            job.failed = true;
        }
        if let Some(slot) = job.sections.get_mut(id) {
            *slot = path;
        }
        job.done += 1;
        if job.done == job.sections.len() && matches!(job.phase, Phase::Running) {
            return Some(std::mem::take(&mut *job));
        }
        None
    }

    /// Joins the sections into the target file and records the outcome.
    /// The job's phase is back to idle once this returns (the mutex keeps
    /// another save out meanwhile only through `in_progress`).
    fn complete(&self, job: Job, used_mem: u64) -> bool {
        let mut ok = !job.failed;
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if *written > job.gen {
            ok = false;
        }
        if ok {
            let aux = Aux {
                redis_ver: crate::families::common::REDIS_VERSION.to_string(),
                ctime: job.started_ms / 1000,
                used_mem,
                functions: self.libraries(),
            };
            let saved = rdb::save_file(&job.dir, &job.file, |w| {
                let mut files = Vec::with_capacity(job.sections.len());
                for p in job.sections.iter().flatten() {
                    files.push(File::open(p)?);
                }
                let checksum = crate::settings::current("rdbchecksum").as_deref() != Some("no");
                rdb::combine_with(w, &aux, files.iter(), checksum)?;
                Ok(())
            });
            match saved {
                Ok(()) => *written = job.gen,
                Err(e) => {
                    crate::log!(Warning, "saving {}: {e}", job.dir.join(&job.file).display());
                    ok = false;
                }
            }
        }
        drop(written);
        for p in job.sections.iter().flatten() {
            let _ = std::fs::remove_file(p);
        }
        let now = kevy_sys::clock::unix_ms();
        self.last_ok.store(ok, Relaxed);
        if ok {
            self.lastsave.store(now / 1000, Relaxed);
            self.saved_dirty.store(job.dirty_at_cut, Relaxed);
            self.saves.fetch_add(1, Relaxed);
            crate::log!(Notice, "DB saved on disk");
            if !job.foreground {
                crate::log!(Notice, "Background saving terminated with success");
            }
        } else {
            self.last_try_ms.store(now, Relaxed);
            if job.foreground {
                crate::log!(Warning, "Failed saving the DB");
            } else {
                crate::log!(Warning, "Background saving error");
            }
        }
        if !job.foreground {
            self.last_secs
                .store((now.saturating_sub(job.started_ms) / 1000) as i64, Relaxed);
        }
        self.in_progress.store(false, Relaxed);
        ok
    }
}

/// Where saves go now: `dir` (the working directory, as Redis's `dir`
/// changes it) and `dbfilename`.
pub(crate) fn target() -> (PathBuf, String) {
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let file = crate::settings::current("dbfilename").unwrap_or_else(|| "dump.rdb".into());
    (dir, file)
}

/// SHUTDOWN's part on one shard when it saves: a BGSAVE in progress is
/// abandoned (its sections are dropped), then as SAVE. True when this part
/// completed the file.
pub fn shutdown_part(shard: &mut crate::shard::Shard) -> Result<bool, String> {
    if let Some(s) = shard.snapshot.take() {
        s.snap.cancel(&mut shard.store);
        let _ = std::fs::remove_file(&s.path);
    }
    shard.persist.abandon_background();
    save_part(shard)
}

/// SAVE's part on one shard: writes the shard's section now; the last part
/// joins the sections into the file (true). `Err` is the error to answer.
pub fn save_part(shard: &mut crate::shard::Shard) -> Result<bool, String> {
    let p = shard.persist.clone();
    let gen = p
        .join(shard.nshards, true, shard.store.dirty)
        .map_err(str::to_string)?;
    let dir = p.job().dir.clone();
    let path = write_section(&dir, &shard.store)
        .map_err(|e| crate::log!(Warning, "writing a snapshot section: {e}"))
        .ok();
    match p.section_done(gen, shard.id, path) {
        Some(job) => match p.complete(job, kevy_sys::alloc::stats().allocated) {
            true => Ok(true),
            false => Err("ERR".into()),
        },
        None => Ok(false),
    }
}

fn write_section(dir: &Path, store: &kevy_store::Store) -> std::io::Result<PathBuf> {
    let (path, f) = rdb::temp_file(dir)?;
    let written = (|| {
        let mut w = rdb::SectionWriter::new(BufWriter::new(f));
        w.write_store(store)?;
        w.into_inner()
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_data()
    })();
    match written {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// BGSAVE's part on one shard: its cut. The snapshot goes on in
/// [`step_snapshot`].
pub fn bgsave_part(shard: &mut crate::shard::Shard) -> Result<(), &'static str> {
    let p = shard.persist.clone();
    let gen = p.join(shard.nshards, false, shard.store.dirty)?;
    let dir = p.job().dir.clone();
    match rdb::temp_file(&dir) {
        Ok((path, f)) => {
            let snap = Snapshot::start(&mut shard.store, BufWriter::new(f));
            shard.snapshot = Some(ShardSnapshot { snap, path, gen });
        }
        Err(e) => {
            crate::log!(
                Warning,
                "cannot create a snapshot file in {}: {e}",
                dir.display()
            );
            let _ = p.section_done(gen, shard.id, None);
        }
    }
    Ok(())
}

/// Keys a shard's BGSAVE (or log rewrite) writes per loop iteration, and
/// per tick. An idle shard with a snapshot running loops every millisecond
/// (`Service::background`), so a snapshot moves on at about 256 k keys a
/// second per shard without ever holding a shard for more than a fraction
/// of a millisecond.
pub const STEP_KEYS: usize = 256;
pub const TICK_KEYS: usize = 256;

/// Advances the shard's BGSAVE, if any, by about `budget` keys; when its
/// section is complete, reports it, and the shard that completes the set
/// starts the thread that joins them.
pub fn step_snapshot(shard: &mut crate::shard::Shard, budget: usize) {
    let Some(s) = shard.snapshot.as_mut() else {
        return;
    };
    let done = match s.snap.step(&shard.store, budget) {
        Ok(false) => return,
        Ok(true) => true,
        Err(e) => {
            crate::log!(Warning, "writing a snapshot section: {e}");
            false
        }
    };
    let Some(s) = shard.snapshot.take() else {
        return;
    };
    let path = if done {
        match s.snap.finish(&mut shard.store) {
            Ok(w) => match w.into_inner().map_err(|e| e.into_error()) {
                Ok(_) => Some(s.path),
                Err(e) => {
                    crate::log!(Warning, "writing a snapshot section: {e}");
                    let _ = std::fs::remove_file(&s.path);
                    None
                }
            },
            Err(e) => {
                crate::log!(Warning, "writing a snapshot section: {e}");
                let _ = std::fs::remove_file(&s.path);
                None
            }
        }
    } else {
        s.snap.cancel(&mut shard.store);
        let _ = std::fs::remove_file(&s.path);
        None
    };
    if let Some(job) = shard.persist.section_done(s.gen, shard.id, path) {
        let p = shard.persist.clone();
        let mem = kevy_sys::alloc::stats().allocated;
        let spawned = std::thread::Builder::new()
            .name("kevy-save".into())
            .spawn(move || {
                p.complete(job, mem);
            });
        if let Err(e) = spawned {
            crate::log!(Warning, "cannot start the save thread: {e}");
            shard.persist.in_progress.store(false, Relaxed);
        }
    }
}

/// Whether a save point (`save <seconds> <changes> …`) asks for a BGSAVE
/// now: `changes` writes since the last save, `since` seconds after it.
/// After a failed save, points wait 5 s before trying again (Redis's
/// CONFIG_BGSAVE_RETRY_DELAY).
pub fn save_point_due(p: &Persist, points: &str, changes: u64, now_ms: u64) -> bool {
    if changes == 0 || p.in_progress.load(Relaxed) || p.current_started_ms().is_some() {
        return false;
    }
    if !p.last_ok.load(Relaxed) && now_ms < p.last_try_ms.load(Relaxed) + 5000 {
        return false;
    }
    let since = (now_ms / 1000).saturating_sub(p.lastsave.load(Relaxed));
    let nums: Vec<u64> = points
        .split_ascii_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    nums.chunks_exact(2)
        .any(|pair| since >= pair[0] && changes >= pair[1])
}

/// The save state every shard of a server shares; `start_secs` counts as
/// the last save (Redis's `lastsave` starts at start-up).
pub fn shared(start_secs: u64) -> Arc<Persist> {
    let p = Persist::default();
    p.lastsave.store(start_secs, Relaxed);
    Arc::new(p)
}
