//! The log writer: records go to a buffer, the buffer to the file with one
//! `write` per reactor iteration, and a thread the log owns runs `fdatasync`
//! so the reactor never waits for the disk. Positions are logical byte
//! counts over the log's whole life, across file switches; a reply waits
//! for `durable() >= ` the position its effects ended at.

use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::record::{self, Tag, TxId};

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// A batch's replies leave after one fsync covering it (group commit).
    Always,
    /// The log's thread fsyncs once a second.
    Everysec,
    /// Never fsync explicitly (the kernel writes back when it likes).
    No,
}

/// What [`Log::flush`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flushed {
    /// The buffer went to the file (or was empty).
    Written,
    /// `everysec` only: an fsync has been running for less than
    /// [`POSTPONE_LIMIT`], so the buffer stays in memory rather than
    /// making the reactor's `write` queue behind the disk.
    Postponed,
}

/// How long `everysec` keeps postponing writes behind a slow fsync before
/// writing anyway, as Redis does: past it, losing more than about two
/// seconds on a crash is worse than a reactor stalled in `write`.
pub const POSTPONE_LIMIT: Duration = Duration::from_secs(2);

/// The `everysec` period.
const EVERYSEC: Duration = Duration::from_secs(1);

/// Called from the log's thread after each fsync, e.g. to write the
/// reactor's eventfd so that it releases the replies now durable.
pub type Notify = Box<dyn Fn() + Send + Sync>;

/// One shard's append-only log writer. Dropping it neither writes the
/// buffer nor waits for a requested fsync (as a crash would not): call
/// [`Log::sync_now`] on an orderly shutdown.
pub struct Log {
    policy: Fsync,
    buf: Vec<u8>,
    /// Logical end of everything appended (written or still buffered).
    appended: u64,
    /// Logical end of what reached the file with `write`.
    written: u64,
    file: Arc<File>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    delayed_fsync: u64,
    /// `everysec`: the last flush kept the buffer behind a running fsync.
    postponed: bool,
    /// A `write` failed: part of the buffer may be in the file, so nothing
    /// more may follow it (the part is a torn tail at the next load).
    write_failed: bool,
    /// Commits in the live files, oldest first: what a rewrite may have
    /// to carry. Grows with the files and restarts at each switch.
    commits: Vec<(TxId, Vec<u32>)>,
}

/// What the reactor and the fsync thread share.
struct Shared {
    state: Mutex<SyncState>,
    wake: Condvar,
    /// Logical end covered by a completed fsync. Release by the thread after
    /// the fsync returned; Acquire by the reactor before releasing replies.
    synced: AtomicU64,
    /// Logical end written. Release by the reactor after `write` returned;
    /// Acquire by the thread before it fsyncs, so the fsync covers it.
    written: AtomicU64,
    /// Milliseconds since `epoch` when the running fsync started, 0 when
    /// none runs. Relaxed: it only steers postponing, a heuristic.
    sync_started: AtomicU64,
    epoch: Instant,
    failed: AtomicBool,
    notify: Option<Notify>,
    /// The policy is `everysec` (the thread also fsyncs once a second).
    /// Relaxed: a policy change takes effect within the thread's next
    /// wake-up, which the change triggers.
    everysec: AtomicBool,
}

struct SyncState {
    /// Fsync requested up to here (`always`, or an explicit request).
    target: u64,
    /// Files switched away from, with the logical end of each: fsynced
    /// before the current one so that a position is durable only when
    /// every file up to it is.
    retired: Vec<(Arc<File>, u64)>,
    current: Arc<File>,
    stop: bool,
    error: Option<String>,
}

impl Log {
    /// Starts a log appending to `file` (opened for writing at its end),
    /// whose first byte is logical position `start`.
    pub fn new(file: File, start: u64, policy: Fsync, notify: Option<Notify>) -> io::Result<Log> {
        let file = Arc::new(file);
        let shared = Arc::new(Shared {
            state: Mutex::new(SyncState {
                target: start,
                retired: Vec::new(),
                current: file.clone(),
                stop: false,
                error: None,
            }),
            wake: Condvar::new(),
            synced: AtomicU64::new(start),
            written: AtomicU64::new(start),
            sync_started: AtomicU64::new(0),
            epoch: Instant::now(),
            failed: AtomicBool::new(false),
            notify,
            everysec: AtomicBool::new(policy == Fsync::Everysec),
        });
        let t = shared.clone();
        let thread = std::thread::Builder::new()
            .name("kevy-aof-fsync".into())
            .spawn(move || fsync_loop(&t))?;
        Ok(Log {
            policy,
            buf: Vec::with_capacity(64 * 1024),
            appended: start,
            written: start,
            file,
            shared,
            thread: Some(thread),
            delayed_fsync: 0,
            postponed: false,
            write_failed: false,
            commits: Vec::new(),
        })
    }

    pub fn policy(&self) -> Fsync {
        self.policy
    }

    /// Switches the policy (`CONFIG SET appendfsync`). What was written
    /// before is covered by the new policy's next fsync; switching to
    /// `always` does not by itself fsync anything.
    pub fn set_policy(&mut self, policy: Fsync) {
        self.policy = policy;
        self.shared
            .everysec
            .store(policy == Fsync::Everysec, Ordering::Relaxed);
        // Wake the thread so that it waits the new way.
        let _st = lock(&self.shared.state);
        self.shared.wake.notify_all();
    }

    /// Appends effects outside any cross-shard transaction (RESP arrays,
    /// `SELECT` included where the database changes). Returns the position
    /// a reply depending on them waits for.
    pub fn append_effects(&mut self, resp: &[u8]) -> io::Result<u64> {
        record::encode(&mut self.buf, Tag::Effects, &[resp])?;
        Ok(self.advance())
    }

    /// Appends effects of cross-shard transaction `id` on this shard.
    pub fn append_tx_effects(&mut self, id: TxId, resp: &[u8]) -> io::Result<u64> {
        record::encode(&mut self.buf, Tag::TxEffects, &[&id.encode(), resp])?;
        Ok(self.advance())
    }

    /// Appends the end of this shard's part of transaction `id`.
    /// `participants`: every shard that logs a part of it, this one too.
    pub fn append_tx_commit(&mut self, id: TxId, participants: &[u32]) -> io::Result<u64> {
        record::encode_commit(&mut self.buf, id, participants)?;
        self.commits.push((id, participants.to_vec()));
        Ok(self.advance())
    }

    fn advance(&mut self) -> u64 {
        self.appended = self.written + self.buf.len() as u64;
        self.appended
    }

    /// The transaction commits in the files since the last switch (those
    /// found when the log was opened, then those appended), oldest first.
    pub fn commits(&self) -> &[(TxId, Vec<u32>)] {
        &self.commits
    }

    /// Seeds [`Log::commits`] with what the live files already hold.
    pub(crate) fn set_commits(&mut self, c: Vec<(TxId, Vec<u32>)>) {
        self.commits = c;
    }

    /// Logical end of everything appended.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Logical end of what reached the file.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Logical end covered by a completed fsync.
    pub fn synced(&self) -> u64 {
        // Acquire pairs with the fsync thread's Release after fsync.
        self.shared.synced.load(Ordering::Acquire)
    }

    /// Where the policy lets replies go: the fsynced end under `always`;
    /// otherwise the written end (a process crash loses nothing
    /// acknowledged), or everything appended while `everysec` postpones
    /// its write behind a slow fsync (as Redis answers then too: the
    /// promise of `everysec` is about losing the last seconds, not each
    /// reply).
    pub fn durable(&self) -> u64 {
        match self.policy {
            Fsync::Always => self.synced(),
            Fsync::Everysec if self.postponed => self.appended,
            Fsync::Everysec | Fsync::No => self.written,
        }
    }

    /// How many times `everysec` wrote anyway behind an fsync slower than
    /// [`POSTPONE_LIMIT`] (INFO's `aof_delayed_fsync`).
    pub fn delayed_fsync(&self) -> u64 {
        self.delayed_fsync
    }

    /// The fsync error that stopped durability, if any. Once set, `synced`
    /// never moves again: after a failed fsync the kernel may have dropped
    /// the dirty pages, so nothing written can be assumed on disk. The
    /// runtime must stop acknowledging writes (Redis exits).
    pub fn error(&self) -> Option<String> {
        if !self.shared.failed.load(Ordering::Relaxed) {
            return None;
        }
        lock(&self.shared.state).error.clone()
    }

    /// Writes the buffer with one `write` (call once per reactor
    /// iteration, after the batch's effects are appended), then under
    /// `always` asks the thread for an fsync covering it. Never waits for
    /// the disk except inside `write` itself.
    pub fn flush(&mut self) -> io::Result<Flushed> {
        if self.buf.is_empty() {
            return Ok(Flushed::Written);
        }
        if self.policy == Fsync::Everysec {
            let started = self.shared.sync_started.load(Ordering::Relaxed);
            if started != 0 {
                let now = self.shared.now_ms();
                if now.saturating_sub(started) < POSTPONE_LIMIT.as_millis() as u64 {
                    self.postponed = true;
                    return Ok(Flushed::Postponed);
                }
                self.delayed_fsync += 1;
            }
        }
        self.write_buf()?;
        if self.policy == Fsync::Always {
            self.request_sync();
        }
        Ok(Flushed::Written)
    }

    /// Writes the buffer now, never postponed behind a running fsync: a
    /// transaction's part or decision must reach the file before the shard
    /// answers for it, because another shard acts on that answer (its
    /// decision, or its unlocks). Under `always`, asks for the fsync too.
    pub fn flush_now(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.write_buf()?;
        if self.policy == Fsync::Always {
            self.request_sync();
        }
        Ok(())
    }

    /// Asks the thread for an fsync of everything written so far, whatever
    /// the policy (the rewrite uses it before installing a base).
    pub fn request_sync(&self) {
        let mut st = lock(&self.shared.state);
        if st.target < self.written {
            st.target = self.written;
            self.shared.wake.notify_one();
        }
    }

    /// Writes what is buffered and fsyncs on the calling thread (shutdown,
    /// tests). Returns the synced position.
    pub fn sync_now(&mut self) -> io::Result<u64> {
        self.write_buf()?;
        let (retired, current) = {
            let mut st = lock(&self.shared.state);
            (std::mem::take(&mut st.retired), st.current.clone())
        };
        for (f, _) in &retired {
            f.sync_data()?;
        }
        current.sync_data()?;
        self.shared
            .synced
            .fetch_max(self.written, Ordering::Release);
        Ok(self.written)
    }

    /// Continues the log in `file` (a new incr file, already durable in its
    /// directory): writes the buffer to the old file, which the thread
    /// fsyncs before the new one. Returns the logical position where the
    /// new file starts: everything before it is in the old files.
    pub fn switch_file(&mut self, file: File) -> io::Result<u64> {
        self.write_buf()?;
        let file = Arc::new(file);
        let old = std::mem::replace(&mut self.file, file.clone());
        let mut st = lock(&self.shared.state);
        st.retired.push((old, self.written));
        st.current = file;
        self.commits.clear();
        Ok(self.written)
    }
}

impl Log {
    /// Writes the whole buffer. After a failed or short write the log
    /// refuses every later write: appending behind a partial record would
    /// turn a torn tail into corruption in the middle.
    fn write_buf(&mut self) -> io::Result<()> {
        if self.write_failed {
            return Err(io::Error::other(
                "an earlier write to the append-only file failed",
            ));
        }
        if let Err(e) = (&*self.file).write_all(&self.buf) {
            self.write_failed = true;
            return Err(e);
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
        self.postponed = false;
        // Release pairs with the thread's Acquire before it fsyncs.
        self.shared.written.store(self.written, Ordering::Release);
        Ok(())
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        // +1 so that 0 keeps meaning "no fsync running".
        self.epoch.elapsed().as_millis() as u64 + 1
    }
}

fn lock(m: &Mutex<SyncState>) -> MutexGuard<'_, SyncState> {
    // A panic while holding the lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fsync thread. `always`: fsync whenever a target beyond `synced`
/// is requested; one fsync covers every batch written before it started,
/// which is what makes commits group. `everysec`: also wake each second and
/// fsync what was written. `no`: only explicit requests.
fn fsync_loop(sh: &Shared) {
    let mut last = Instant::now();
    loop {
        let (target, retired, current) = {
            let mut st = lock(&sh.state);
            loop {
                if st.stop || st.error.is_some() {
                    return;
                }
                let synced = sh.synced.load(Ordering::Relaxed);
                if st.target > synced {
                    break;
                }
                if sh.everysec.load(Ordering::Relaxed) {
                    let due = last + EVERYSEC;
                    let now = Instant::now();
                    if now >= due {
                        // Acquire pairs with the reactor's Release of
                        // `written` after its write returned.
                        let w = sh.written.load(Ordering::Acquire);
                        last = now;
                        if w > synced {
                            st.target = w;
                            break;
                        }
                        continue;
                    }
                    st = sh
                        .wake
                        .wait_timeout(st, due - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                } else {
                    st = sh.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            }
            // Everything up to target was written before the request was
            // made, so this fsync covers it.
            let retired: Vec<_> = st.retired.drain(..).collect();
            (st.target, retired, st.current.clone())
        };
        sh.sync_started.store(sh.now_ms(), Ordering::Relaxed);
        let mut res = Ok(());
        for (f, _) in &retired {
            if res.is_ok() {
                res = f.sync_data();
            }
        }
        if res.is_ok() {
            res = current.sync_data();
        }
        sh.sync_started.store(0, Ordering::Relaxed);
        match res {
            Ok(()) => {
                // Release pairs with the reactor's Acquire in `synced()`.
                sh.synced.fetch_max(target, Ordering::Release);
            }
            Err(e) => {
                lock(&sh.state).error = Some(format!("fsync of the append-only file failed: {e}"));
                sh.failed.store(true, Ordering::Relaxed);
            }
        }
        if let Some(n) = &sh.notify {
            n();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::record::{Reader, Record};
    use crate::aof::testutil::{cmd, TempDir};
    use std::sync::mpsc;

    fn open(path: &std::path::Path) -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
    }

    use std::fs::OpenOptions;

    /// A log whose thread reports each fsync on a channel.
    fn log_with_channel(path: &std::path::Path, policy: Fsync) -> (Log, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let notify: Notify = Box::new(move || {
            let _ = tx.lock().unwrap().send(());
        });
        (Log::new(open(path), 0, policy, Some(notify)).unwrap(), rx)
    }

    fn wait_synced(log: &Log, rx: &mpsc::Receiver<()>, pos: u64) {
        while log.synced() < pos {
            rx.recv().expect("fsync thread gone");
        }
    }

    fn payloads(path: &std::path::Path) -> Vec<Vec<u8>> {
        let mut r = Reader::open(path, false).unwrap();
        let mut out = Vec::new();
        while let Some((_, rec)) = r.next_record().unwrap() {
            match rec {
                Record::Effects(p) | Record::TxEffects(_, p) => out.push(p.to_vec()),
                Record::TxCommit(..) => out.push(b"commit".to_vec()),
                Record::BaseEnd(_) => out.push(b"end".to_vec()),
            }
        }
        out
    }

    #[test]
    fn always_releases_a_batch_only_after_an_fsync_covering_it() {
        let d = TempDir::new("always");
        let p = d.path().join("log");
        let (mut log, rx) = log_with_channel(&p, Fsync::Always);
        let a = log.append_effects(&cmd(&[b"SET", b"a", b"1"])).unwrap();
        let b = log.append_effects(&cmd(&[b"SET", b"b", b"2"])).unwrap();
        assert!(b > a);
        // Appended, not written: nothing is durable.
        assert_eq!(log.durable(), 0);
        assert_eq!(log.written(), 0);
        assert_eq!(log.flush().unwrap(), Flushed::Written);
        assert_eq!(log.written(), b);
        wait_synced(&log, &rx, b);
        assert!(log.durable() >= b);
        // Durable never passes what was written.
        let c = log.append_effects(&cmd(&[b"DEL", b"a"])).unwrap();
        assert!(log.durable() < c);
        log.flush().unwrap();
        wait_synced(&log, &rx, c);
        assert_eq!(log.durable(), c);
        assert_eq!(log.error(), None);
        drop(log);
        assert_eq!(
            payloads(&p),
            vec![
                cmd(&[b"SET", b"a", b"1"]),
                cmd(&[b"SET", b"b", b"2"]),
                cmd(&[b"DEL", b"a"])
            ]
        );
    }

    #[test]
    fn one_fsync_covers_every_batch_written_before_it() {
        // `no` never asks by itself, so exactly one fsync runs here: the
        // one requested after all 200 batches were written, as when many
        // batches pile up behind a running fsync under `always`.
        let d = TempDir::new("group");
        let p = d.path().join("log");
        let (mut log, rx) = log_with_channel(&p, Fsync::No);
        let mut last = 0;
        for i in 0..200u32 {
            last = log
                .append_effects(&cmd(&[b"SET", i.to_string().as_bytes(), b"v"]))
                .unwrap();
            log.flush().unwrap();
        }
        assert_eq!(log.synced(), 0);
        log.request_sync();
        rx.recv().unwrap();
        assert_eq!(log.synced(), last);
        assert!(rx.try_recv().is_err(), "one fsync, one notification");
        assert_eq!(payloads(&p).len(), 200);
    }

    #[test]
    fn everysec_and_no_release_on_write_and_sync_on_request() {
        for policy in [Fsync::Everysec, Fsync::No] {
            let d = TempDir::new("lazy");
            let p = d.path().join("log");
            let (mut log, rx) = log_with_channel(&p, policy);
            let a = log.append_tx_commit(tx_id(), &[0, 1]).unwrap();
            log.flush().unwrap();
            assert_eq!(log.durable(), a, "{policy:?}");
            log.request_sync();
            wait_synced(&log, &rx, a);
            assert_eq!(log.synced(), a);
        }
    }

    fn tx_id() -> TxId {
        TxId {
            epoch: 1,
            coordinator: 0,
            counter: 1,
        }
    }

    #[test]
    fn everysec_fsyncs_in_the_background_without_a_request() {
        let d = TempDir::new("everysec");
        let p = d.path().join("log");
        let (mut log, rx) = log_with_channel(&p, Fsync::Everysec);
        let a = log.append_effects(&cmd(&[b"SET", b"k", b"v"])).unwrap();
        log.flush().unwrap();
        // No request: the once-a-second fsync must get there by itself.
        wait_synced(&log, &rx, a);
    }

    #[test]
    fn switching_files_keeps_positions_and_syncs_the_old_file_too() {
        let d = TempDir::new("switch");
        let p1 = d.path().join("one");
        let p2 = d.path().join("two");
        let (mut log, rx) = log_with_channel(&p1, Fsync::Always);
        log.append_effects(&cmd(&[b"SET", b"a", b"1"])).unwrap();
        let point = log.switch_file(open(&p2)).unwrap();
        assert_eq!(point, log.written());
        let b = log.append_effects(&cmd(&[b"SET", b"b", b"2"])).unwrap();
        assert!(b > point);
        log.flush().unwrap();
        wait_synced(&log, &rx, b);
        drop(log);
        assert_eq!(payloads(&p1), vec![cmd(&[b"SET", b"a", b"1"])]);
        assert_eq!(payloads(&p2), vec![cmd(&[b"SET", b"b", b"2"])]);
    }

    #[test]
    fn sync_now_writes_and_fsyncs_on_the_caller() {
        let d = TempDir::new("now");
        let p = d.path().join("log");
        let mut log = Log::new(open(&p), 100, Fsync::No, None).unwrap();
        let a = log.append_effects(b"*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(log.synced(), 100);
        assert_eq!(log.sync_now().unwrap(), a);
        assert_eq!(log.synced(), a);
        assert_eq!(payloads(&p).len(), 1);
    }

    #[test]
    fn everysec_postpones_its_write_behind_a_running_fsync() {
        let d = TempDir::new("postpone");
        let p = d.path().join("log");
        let (mut log, _rx) = log_with_channel(&p, Fsync::Everysec);
        // As the thread marks an fsync it has just started.
        let sh = log.shared.clone();
        sh.sync_started.store(sh.now_ms(), Ordering::Relaxed);
        let a = log.append_effects(&cmd(&[b"SET", b"k", b"v"])).unwrap();
        assert_eq!(log.flush().unwrap(), Flushed::Postponed);
        assert_eq!(log.written(), 0);
        // Replies are not held back by the postponed write.
        assert_eq!(log.durable(), a);
        sh.sync_started.store(0, Ordering::Relaxed);
        assert_eq!(log.flush().unwrap(), Flushed::Written);
        assert_eq!(log.written(), a);
        assert_eq!(log.delayed_fsync(), 0);
        assert_eq!(payloads(&p).len(), 1);
    }

    #[test]
    fn after_a_failed_write_nothing_more_is_written() {
        let d = TempDir::new("fail");
        let p = d.path().join("log");
        std::fs::write(&p, b"").unwrap();
        // A file opened read-only: every write fails.
        let ro = File::open(&p).unwrap();
        let mut log = Log::new(ro, 0, Fsync::Always, None).unwrap();
        log.append_effects(&cmd(&[b"SET", b"k", b"v"])).unwrap();
        assert!(log.flush().is_err());
        assert_eq!(log.written(), 0);
        assert!(log.flush().is_err(), "refuses again");
        assert!(log.sync_now().is_err());
        assert_eq!(log.durable(), 0);
    }

    #[test]
    fn an_oversized_record_is_refused_and_nothing_is_appended() {
        // A payload over 4 GiB cannot be built cheaply; check the limit
        // through encode's arithmetic on slices that sum past it.
        let big = vec![0u8; 1 << 20];
        let parts: Vec<&[u8]> = std::iter::repeat_n(&big[..], 4097).collect();
        let mut out = Vec::new();
        let err = record::encode(&mut out, Tag::Effects, &parts).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(out.is_empty());
    }
}
