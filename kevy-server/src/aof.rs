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

use crate::service::Kevy;
use crate::shard::Shard;
use kevy_persist::aof::{self, Fsync, Layout, LoadOptions, Log, Recovered, Replay, TxId};
use kevy_persist::rdb;
use kevy_rt::{Effects, Record};
use std::path::{Path, PathBuf};

/// One shard's log while the server runs.
pub struct ShardLog {
    log: Log,
    /// This boot's transaction epoch (the files' highest, plus one).
    epoch: u64,
    /// `aof_last_write_status`: false after a failed write or fsync.
    pub ok: bool,
}

impl ShardLog {
    /// Appends what the shard did this iteration and makes it as durable
    /// as the policy says, before the iteration's replies leave.
    pub fn persist(&mut self, effects: &mut Effects) {
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
        if log.appended() == log.written() && failed.is_none() {
            return;
        }
        let done = failed.map_or(Ok(()), Err).and_then(|()| {
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
                eprintln!("kevy-server: writing the append-only log failed: {e}");
            }
            self.ok = false;
        }
    }

    /// Writes and fsyncs everything (orderly shutdown).
    pub fn close(&mut self, effects: &mut Effects) {
        self.persist(effects);
        if let Err(e) = self.log.sync_now() {
            eprintln!("kevy-server: fsync of the append-only log failed: {e}");
        }
    }

    /// Bytes appended since start-up (INFO `aof_current_size` growth).
    pub fn appended(&self) -> u64 {
        self.log.appended()
    }
}

/// What start-up found: the files to replay and each shard's log.
pub struct Boot {
    pub recovered: Recovered,
    logs: std::sync::Mutex<Vec<Option<Log>>>,
    epoch: u64,
}

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
        aof::recover(l, LoadOptions::default()).map_err(|e| format!("{}: {e}", l.dir.display()))
    };
    let mut recovered = load(&layout)?;
    if recovered.shards() != 0 && recovered.shards() != n {
        convert(kevy, &layout, &recovered, n)?;
        recovered = load(&layout)?;
    }
    for note in &recovered.notes {
        eprintln!("kevy-server: append-only log: {note}");
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
    Ok(Some(Boot {
        epoch: recovered.max_epoch + 1,
        recovered,
        logs: std::sync::Mutex::new(logs),
    }))
}

impl Boot {
    /// Shard `s`'s log, to keep for the shard's life.
    pub fn take_log(&self, s: usize) -> Option<ShardLog> {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let log = logs.get_mut(s)?.take()?;
        Some(ShardLog {
            log,
            epoch: self.epoch,
            ok: true,
        })
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
    let (id, n) = (shard.id, shard.nshards);
    let store = &mut shard.store;
    rdb::load_file(path, 0, |k| {
        if kevy_rt::shard_of(&k.key, n) != id {
            return Err(format!("a key of another shard in {}", path.display()));
        }
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
fn parse_array(b: &[u8]) -> Option<(Vec<Vec<u8>>, usize)> {
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
    eprintln!("kevy-server: the append-only log has {old_n} shard(s); rewriting it for {n}");
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
            };
            let mut cw = rdb::CrcWriter::new(Vec::new());
            rdb::write_header(&mut cw, &aux)?;
            let mut w = rdb::SectionWriter::new(cw);
            for o in &old {
                for db in 0..o.store.ndbs() {
                    for (k, e) in o.store.entries(db) {
                        if kevy_rt::shard_of(k, n) == s {
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
