//! The log's directory: per shard a manifest naming a base and incr files,
//! recovery over every shard's files, and the rewrite's steps. A file
//! counts only once a manifest lists it, and a manifest changes only by
//! rename, so a crash between any two steps leaves one whole manifest.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::log::{Fsync, Log, Notify};
use super::record::{self, Corrupt, End, ReadError, Reader, Record, Tag, TxId};
use super::recovery::{self, Cut, Event};
use super::resp;

/// Redis's default `appenddirname`.
pub const DEFAULT_DIR: &str = "appendonlydir";
/// Redis's default `appendfilename`: the prefix of every file's name.
pub const DEFAULT_NAME: &str = "appendonly.aof";

/// How a base is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseFormat {
    /// Effect records ending with a [`Tag::BaseEnd`] record (`.kevy`).
    Records,
    /// RDB bytes from the snapshot writer (`.rdb`); loading them is the
    /// caller's, through [`Replay::RdbBase`].
    Rdb,
}

impl BaseFormat {
    fn ext(self) -> &'static str {
        match self {
            BaseFormat::Records => "kevy",
            BaseFormat::Rdb => "rdb",
        }
    }
}

/// Where the files are and how they are named.
#[derive(Clone, Debug)]
pub struct Layout {
    pub dir: PathBuf,
    pub name: String,
}

impl Layout {
    pub fn new(dir: impl Into<PathBuf>, name: impl Into<String>) -> Layout {
        Layout {
            dir: dir.into(),
            name: name.into(),
        }
    }

    fn manifest_name(&self, shard: usize) -> String {
        format!("{}.s{shard}.manifest", self.name)
    }

    pub fn manifest_path(&self, shard: usize) -> PathBuf {
        self.dir.join(self.manifest_name(shard))
    }

    fn incr_name(&self, shard: usize, seq: u64) -> String {
        format!("{}.s{shard}.{seq}.incr.kevy", self.name)
    }

    fn base_name(&self, shard: usize, seq: u64, f: BaseFormat) -> String {
        format!("{}.s{shard}.{seq}.base.{}", self.name, f.ext())
    }

    /// Every file of `shard` starts with this (temp files with `temp-`
    /// before it).
    fn shard_prefix(&self, shard: usize) -> String {
        format!("{}.s{shard}.", self.name)
    }
}

/// A manifest: the base (if any) and the incr files, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<(String, u64, BaseFormat)>,
    pub incrs: Vec<(String, u64)>,
}

impl Manifest {
    fn to_text(&self) -> String {
        let mut s = String::new();
        if let Some((name, seq, _)) = &self.base {
            s.push_str(&format!("file {name} seq {seq} type b\n"));
        }
        for (name, seq) in &self.incrs {
            s.push_str(&format!("file {name} seq {seq} type i\n"));
        }
        s
    }

    fn parse(text: &str, path: &Path) -> Result<Manifest, LoadError> {
        let mut m = Manifest::default();
        for (n, line) in text.lines().enumerate() {
            let bad = |why: &str| {
                LoadError::Invalid(format!(
                    "Invalid append-only manifest {} line {}: {why}",
                    path.display(),
                    n + 1
                ))
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let w: Vec<&str> = line.split(' ').collect();
            if w.len() != 6 || w[0] != "file" || w[2] != "seq" || w[4] != "type" {
                return Err(bad("expected `file NAME seq N type b|i`"));
            }
            let name = w[1];
            if name.contains('/') || name.is_empty() {
                return Err(bad("a file name must not contain '/'"));
            }
            let seq: u64 = w[3].parse().map_err(|_| bad("seq is not a number"))?;
            match w[5] {
                "b" => {
                    if m.base.is_some() {
                        return Err(bad("more than one base"));
                    }
                    let f = if name.ends_with(".rdb") {
                        BaseFormat::Rdb
                    } else {
                        BaseFormat::Records
                    };
                    m.base = Some((name.to_string(), seq, f));
                }
                "i" => m.incrs.push((name.to_string(), seq)),
                _ => return Err(bad("type must be b or i")),
            }
        }
        Ok(m)
    }

    fn next_seq(&self) -> u64 {
        let b = self.base.as_ref().map_or(0, |b| b.1);
        let i = self.incrs.iter().map(|i| i.1).max().unwrap_or(0);
        b.max(i) + 1
    }
}

/// Fsyncs a directory, making renames and creations in it durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `shard`'s manifest atomically: temp file, fsync, rename,
/// fsync the directory.
pub fn write_manifest(layout: &Layout, shard: usize, m: &Manifest) -> io::Result<()> {
    let tmp = layout
        .dir
        .join(format!("temp-{}", layout.manifest_name(shard)));
    let mut f = File::create(&tmp)?;
    f.write_all(m.to_text().as_bytes())?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, layout.manifest_path(shard))?;
    fsync_dir(&layout.dir)
}

/// Reads `shard`'s manifest; `None` when it has none.
pub fn read_manifest(layout: &Layout, shard: usize) -> Result<Option<Manifest>, LoadError> {
    let path = layout.manifest_path(shard);
    match fs::read_to_string(&path) {
        Ok(t) => Manifest::parse(&t, &path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LoadError::Io(e)),
    }
}

/// How many shards have a manifest: `0..n`, every one present.
pub fn shard_count(layout: &Layout) -> Result<usize, LoadError> {
    let mut n = 0;
    while layout.manifest_path(n).exists() {
        n += 1;
    }
    // A gap would silently drop a shard's data.
    for e in fs::read_dir(&layout.dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(rest) = name.strip_prefix(&format!("{}.s", layout.name)) {
            if let Some(num) = rest.strip_suffix(".manifest") {
                if num.parse::<usize>().is_ok_and(|k| k >= n) {
                    return Err(LoadError::Invalid(format!(
                        "append-only manifest {name} has no manifest for shard {n} before it"
                    )));
                }
            }
        }
    }
    Ok(n)
}

/// Opens `shard`'s log for appending at the end of its last incr file,
/// creating the directory, a first incr file and a manifest when there is
/// none, and deleting files of the shard that the manifest does not list
/// (what an interrupted rewrite leaves). Call after [`Recovered::truncate`].
pub fn open_log(
    layout: &Layout,
    shard: usize,
    policy: Fsync,
    notify: Option<Notify>,
) -> Result<Log, LoadError> {
    fs::create_dir_all(&layout.dir)?;
    let m = match read_manifest(layout, shard)? {
        Some(m) if !m.incrs.is_empty() => m,
        old => {
            let mut m = old.unwrap_or_default();
            let seq = m.next_seq();
            let name = layout.incr_name(shard, seq);
            create_durable(&layout.dir, &name)?;
            m.incrs.push((name, seq));
            write_manifest(layout, shard, &m)?;
            m
        }
    };
    remove_unlisted(layout, shard, &m)?;
    let mut commits = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &m.incrs {
        let mut r = Reader::open(&layout.dir.join(name), false)?;
        while let Some((_, rec)) = r.next_record()? {
            if let Record::TxCommit(id, parts) = rec {
                if seen.insert(id) {
                    commits.push((id, parts));
                }
            }
        }
    }
    let last = &m.incrs[m.incrs.len() - 1].0;
    let file = OpenOptions::new()
        .append(true)
        .open(layout.dir.join(last))?;
    let mut log = Log::new(file, 0, policy, notify)?;
    log.set_commits(commits);
    Ok(log)
}

/// Creates an empty file and makes its name durable.
fn create_durable(dir: &Path, name: &str) -> io::Result<File> {
    let f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(dir.join(name))?;
    fsync_dir(dir)?;
    Ok(f)
}

/// Deletes the shard's files that `m` does not list.
fn remove_unlisted(layout: &Layout, shard: usize, m: &Manifest) -> io::Result<()> {
    let prefix = layout.shard_prefix(shard);
    let temp_prefix = format!("temp-{prefix}");
    let manifest = layout.manifest_name(shard);
    let mut removed = false;
    for e in fs::read_dir(&layout.dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with(&prefix) || name.starts_with(&temp_prefix);
        let listed = name == manifest
            || m.base.as_ref().is_some_and(|b| b.0 == name)
            || m.incrs.iter().any(|i| i.0 == name);
        if ours && !listed {
            fs::remove_file(e.path())?;
            removed = true;
        }
    }
    if removed {
        fsync_dir(&layout.dir)?;
    }
    Ok(())
}

/// Loading refused.
#[derive(Debug)]
pub enum LoadError {
    Io(io::Error),
    Corrupt(Corrupt),
    Invalid(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "{e}"),
            LoadError::Corrupt(c) => write!(f, "{c}"),
            LoadError::Invalid(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<io::Error> for LoadError {
    fn from(e: io::Error) -> Self {
        LoadError::Io(e)
    }
}

impl From<ReadError> for LoadError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => LoadError::Io(e),
            ReadError::Corrupt(c) => LoadError::Corrupt(c),
        }
    }
}

/// Loading options.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Load up to a damaged record in the middle of a file (and discard
    /// everything after it) instead of refusing to start.
    pub allow_corrupt: bool,
}

/// Something replay hands the caller, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Replay<'a> {
    /// Load this RDB base (only ever first).
    RdbBase(&'a Path),
    /// Apply these effects (RESP arrays).
    Apply(&'a [u8]),
    /// Switch to this database without applying anything: a file starts
    /// (at 0), or skipped effects ended in a `SELECT`.
    Select(u32),
}

/// Where one of a shard's records lies.
#[derive(Clone, Copy, Debug)]
struct Loc {
    file: usize,
    start: u64,
}

/// One shard's files as read.
#[derive(Debug)]
struct ShardFiles {
    manifest: Manifest,
    /// Paths: the base (when it is records) first, then the incr files.
    paths: Vec<PathBuf>,
    /// Index in `paths` of the first incr file.
    first_incr: usize,
    rdb_base: Option<PathBuf>,
    events: Vec<Event>,
    locs: Vec<Loc>,
    /// Records before this index are the base's: never cut.
    base_records: usize,
    /// Where reading stopped short of a file's end: (file, valid length).
    stopped: Option<(usize, u64)>,
}

/// Every shard's logs after the crash, with the consistent cut decided.
#[derive(Debug)]
pub struct Recovered {
    allow_corrupt: bool,
    shards: Vec<ShardFiles>,
    cut: Cut,
    /// Highest transaction epoch seen: the next boot uses one more.
    pub max_epoch: u64,
    /// What loading cut and why, one line each, for the log.
    pub notes: Vec<String>,
}

/// Reads every shard's manifest and files, cuts torn tails, and computes
/// the consistent cut across shards. Nothing on disk changes until
/// [`Recovered::truncate`].
pub fn recover(layout: &Layout, opts: LoadOptions) -> Result<Recovered, LoadError> {
    let n = if layout.dir.exists() {
        shard_count(layout)?
    } else {
        0
    };
    let mut shards = Vec::with_capacity(n);
    let mut notes = Vec::new();
    let mut max_epoch = 0;
    for s in 0..n {
        let m = read_manifest(layout, s)?.unwrap_or_default();
        let sf = read_shard(layout, m, opts, &mut notes, &mut max_epoch)?;
        shards.push(sf);
    }
    let logs: Vec<Vec<Event>> = shards.iter().map(|s| s.events.clone()).collect();
    let cut = recovery::consistent_cut(&logs);
    for (s, sf) in shards.iter().enumerate() {
        if cut.keep[s] < sf.base_records {
            return Err(LoadError::Invalid(format!(
                "append-only base of shard {s} is followed by a commit of a transaction \
                 that is not complete"
            )));
        }
        if cut.keep[s] < sf.events.len() {
            let l = sf.locs[cut.keep[s]];
            notes.push(format!(
                "{}: discarding {} records from offset {} on: a transaction there did not \
                 commit on every shard",
                sf.paths[l.file].display(),
                sf.events.len() - cut.keep[s],
                l.start
            ));
        }
    }
    Ok(Recovered {
        allow_corrupt: opts.allow_corrupt,
        shards,
        cut,
        max_epoch,
        notes,
    })
}

fn read_shard(
    layout: &Layout,
    manifest: Manifest,
    opts: LoadOptions,
    notes: &mut Vec<String>,
    max_epoch: &mut u64,
) -> Result<ShardFiles, LoadError> {
    let mut sf = ShardFiles {
        paths: Vec::new(),
        first_incr: 0,
        rdb_base: None,
        events: Vec::new(),
        locs: Vec::new(),
        base_records: 0,
        stopped: None,
        manifest,
    };
    if let Some((name, _, fmt)) = &sf.manifest.base {
        let path = layout.dir.join(name);
        match fmt {
            BaseFormat::Rdb => {
                if !path.exists() {
                    return Err(LoadError::Invalid(format!(
                        "append-only base {} is missing",
                        path.display()
                    )));
                }
                sf.rdb_base = Some(path);
            }
            BaseFormat::Records => {
                read_base(&path, &mut sf)?;
                sf.base_records = sf.events.len();
            }
        }
    }
    sf.first_incr = sf.paths.len();
    let incrs: Vec<String> = sf.manifest.incrs.iter().map(|i| i.0.clone()).collect();
    for name in incrs {
        let path = layout.dir.join(&name);
        let file = sf.paths.len();
        sf.paths.push(path.clone());
        if sf.stopped.is_some() {
            // Whatever follows a file that ended early may depend on what
            // it lost.
            continue;
        }
        let mut r = Reader::open(&path, opts.allow_corrupt).map_err(|e| {
            LoadError::Invalid(format!(
                "append-only file {} listed in the manifest: {e}",
                path.display()
            ))
        })?;
        while let Some((start, rec)) = r.next_record()? {
            let ev = match rec {
                Record::Effects(_) => Event::Plain,
                Record::TxEffects(id, _) => {
                    *max_epoch = (*max_epoch).max(id.epoch);
                    Event::TxEffects(id)
                }
                Record::TxCommit(id, parts) => {
                    *max_epoch = (*max_epoch).max(id.epoch);
                    Event::TxCommit(id, parts)
                }
                Record::BaseEnd(_) => {
                    return Err(LoadError::Invalid(format!(
                        "{}: base end record at offset {start} in an incr file",
                        path.display()
                    )))
                }
            };
            sf.events.push(ev);
            sf.locs.push(Loc { file, start });
        }
        let scan = r
            .scan()
            .ok_or_else(|| LoadError::Io(io::Error::other("reader stopped without an end")))?;
        match scan.end {
            End::Clean => {}
            End::Torn { offset, damage } => {
                notes.push(format!(
                    "{}: torn last record at offset {offset} ({damage:?}): cut",
                    path.display()
                ));
                sf.stopped = Some((file, scan.valid_len));
            }
            End::CutCorrupt(c) => {
                notes.push(format!("{c}: loading up to it as allowed"));
                sf.stopped = Some((file, scan.valid_len));
            }
        }
    }
    Ok(sf)
}

/// Reads a records base: effects, then a [`Tag::BaseEnd`] that counts
/// them. The base was fsynced before a manifest named it, so any damage
/// is corruption, never a torn tail.
fn read_base(path: &Path, sf: &mut ShardFiles) -> Result<(), LoadError> {
    let file = sf.paths.len();
    sf.paths.push(path.to_path_buf());
    let mut r = Reader::open(path, false)?;
    let mut count = 0u64;
    let mut ended = false;
    while let Some((start, rec)) = r.next_record()? {
        match rec {
            Record::Effects(_) if !ended => {
                count += 1;
                sf.events.push(Event::Plain);
                sf.locs.push(Loc { file, start });
            }
            Record::BaseEnd(n) if !ended && n == count => ended = true,
            _ => {
                return Err(LoadError::Invalid(format!(
                    "append-only base {}: unexpected record at offset {start}",
                    path.display()
                )))
            }
        }
    }
    if !ended || !matches!(r.scan().map(|s| s.end), Some(End::Clean)) {
        return Err(LoadError::Invalid(format!(
            "append-only base {} is incomplete",
            path.display()
        )));
    }
    Ok(())
}

impl Recovered {
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The cut decided across shards.
    pub fn cut(&self) -> &Cut {
        &self.cut
    }

    /// Hands `shard`'s surviving state to `f` in order: the RDB base if
    /// there is one, then effects to apply, with `Select`s where a file
    /// starts or skipped effects changed the database.
    pub fn replay(
        &self,
        shard: usize,
        mut f: impl FnMut(Replay<'_>) -> io::Result<()>,
    ) -> Result<(), LoadError> {
        let sf = &self.shards[shard];
        if let Some(p) = &sf.rdb_base {
            f(Replay::RdbBase(p))?;
        }
        let keep = self.cut.keep[shard];
        let mut i = 0;
        for (file, path) in sf.paths.iter().enumerate() {
            if i >= keep {
                break;
            }
            f(Replay::Select(0))?;
            let mut r = Reader::open(path, self.allow_corrupt)?;
            while i < keep && sf.locs[i].file == file {
                let Some((_, rec)) = r.next_record()? else {
                    return Err(LoadError::Invalid(format!(
                        "{} changed while loading",
                        path.display()
                    )));
                };
                let ev = &sf.events[i];
                let payload = match rec {
                    Record::Effects(p) | Record::TxEffects(_, p) => p,
                    _ => &[][..],
                };
                if self.cut.replays(shard, i, ev) {
                    if !payload.is_empty() {
                        f(Replay::Apply(payload))?;
                    }
                } else if let Some(db) = resp::last_select(payload) {
                    f(Replay::Select(db))?;
                }
                i += 1;
            }
        }
        Ok(())
    }

    /// Makes the cut permanent: truncates each shard's incr files to what
    /// survives (the file holding the cut to its offset, later ones to
    /// nothing) and fsyncs them, so nothing discarded is ever replayed,
    /// even after more records are appended behind it.
    pub fn truncate(&self) -> io::Result<()> {
        for (s, sf) in self.shards.iter().enumerate() {
            let keep = self.cut.keep[s];
            // First byte to discard: (file, offset).
            let from = if keep < sf.locs.len() {
                let l = sf.locs[keep];
                Some((l.file, l.start))
            } else {
                sf.stopped
            };
            let Some((file, offset)) = from else { continue };
            for (k, path) in sf.paths.iter().enumerate().skip(sf.first_incr) {
                let len = match k.cmp(&file) {
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Equal => offset,
                    std::cmp::Ordering::Greater => 0,
                };
                let f = OpenOptions::new().write(true).open(path)?;
                if f.metadata()?.len() > len {
                    f.set_len(len)?;
                    f.sync_all()?;
                }
            }
        }
        Ok(())
    }
}

/// A rewrite in progress for one shard (see the module doc for the
/// sequence and why each crash point is safe).
#[derive(Debug)]
pub struct Rewrite {
    shard: usize,
    seq: u64,
    /// Manifest listing the old files and the new incr file.
    during: Manifest,
    /// Logical log position where the new incr file starts.
    pub point: u64,
    base: Option<(String, BaseFormat)>,
}

/// Step 1 of a rewrite: creates the next incr file, lists it after the
/// current files in the manifest, and switches `log` to it; then appends
/// as its first records the commits of the replaced files ([`Log::commits`])
/// that `carry` keeps: those another shard's live files may still hold.
/// Carrying too many only costs space; too few loses the other shard's
/// records after that transaction.
/// The caller takes its point-in-time view of the store at this moment, in
/// the same reactor turn, with no transaction part open on this shard.
pub fn begin_rewrite(
    layout: &Layout,
    shard: usize,
    log: &mut Log,
    carry: impl Fn(&TxId, &[u32]) -> bool,
) -> Result<Rewrite, LoadError> {
    let current = read_manifest(layout, shard)?.unwrap_or_default();
    let seq = current.next_seq();
    let name = layout.incr_name(shard, seq);
    let file = create_durable(&layout.dir, &name)?;
    let mut during = current;
    during.incrs.push((name, seq));
    write_manifest(layout, shard, &during)?;
    let carried: Vec<(TxId, Vec<u32>)> = log
        .commits()
        .iter()
        .filter(|(id, parts)| carry(id, parts))
        .cloned()
        .collect();
    let point = log.switch_file(file)?;
    for (id, parts) in &carried {
        log.append_tx_commit(*id, parts)?;
    }
    Ok(Rewrite {
        shard,
        seq,
        during,
        point,
        base: None,
    })
}

/// Where a base is written.
pub struct BaseSink {
    file: io::BufWriter<File>,
    format: BaseFormat,
    records: u64,
    buf: Vec<u8>,
}

impl BaseSink {
    /// Records base: one record of effects (RESP arrays, with `SELECT`s).
    pub fn effects(&mut self, resp: &[u8]) -> io::Result<()> {
        if self.format != BaseFormat::Records {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "effects written to an RDB base",
            ));
        }
        self.buf.clear();
        record::encode(&mut self.buf, Tag::Effects, &[resp])?;
        self.records += 1;
        self.file.write_all(&self.buf)
    }

    /// RDB base: raw bytes of the snapshot.
    pub fn rdb_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.format != BaseFormat::Rdb {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "raw bytes written to a records base",
            ));
        }
        self.file.write_all(bytes)
    }
}

impl Rewrite {
    fn temp_base(&self, layout: &Layout, f: BaseFormat) -> PathBuf {
        layout.dir.join(format!(
            "temp-{}",
            layout.base_name(self.shard, self.seq, f)
        ))
    }

    /// Step 2: writes the base from the point-in-time view through `fill`,
    /// fsyncs it, and renames it to its final name (not yet listed: a crash
    /// now still loads the old files plus the new incr file).
    pub fn write_base(
        &mut self,
        layout: &Layout,
        format: BaseFormat,
        fill: impl FnOnce(&mut BaseSink) -> io::Result<()>,
    ) -> io::Result<()> {
        let tmp = self.temp_base(layout, format);
        let mut sink = BaseSink {
            file: io::BufWriter::new(File::create(&tmp)?),
            format,
            records: 0,
            buf: Vec::new(),
        };
        fill(&mut sink)?;
        if format == BaseFormat::Records {
            sink.buf.clear();
            record::encode(&mut sink.buf, Tag::BaseEnd, &[&sink.records.to_le_bytes()])?;
            sink.file.write_all(&sink.buf)?;
        }
        let f = sink.file.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        let name = layout.base_name(self.shard, self.seq, format);
        fs::rename(&tmp, layout.dir.join(&name))?;
        fsync_dir(&layout.dir)?;
        self.base = Some((name, format));
        Ok(())
    }

    /// Step 3: lists the new base and the new incr file alone in the
    /// manifest (atomically), then deletes the replaced files. Only once
    /// every transaction committed on this shard before [`Rewrite::point`]
    /// is stable (see the module doc); the caller checks.
    pub fn install(self, layout: &Layout) -> io::Result<()> {
        let Some((name, format)) = self.base else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "rewrite installed before its base was written",
            ));
        };
        let Some(new_incr) = self.during.incrs.last().cloned() else {
            return Err(io::Error::other("rewrite without a new incr file"));
        };
        let m = Manifest {
            base: Some((name, self.seq, format)),
            incrs: vec![new_incr],
        };
        write_manifest(layout, self.shard, &m)?;
        remove_unlisted(layout, self.shard, &m)
    }
}

/// The total size of `shard`'s base and incr files, for the automatic
/// rewrite's arithmetic.
pub fn log_size(layout: &Layout, shard: usize) -> Result<u64, LoadError> {
    let Some(m) = read_manifest(layout, shard)? else {
        return Ok(0);
    };
    let mut total = 0;
    let names = m
        .base
        .iter()
        .map(|b| &b.0)
        .chain(m.incrs.iter().map(|i| &i.0));
    for name in names {
        total += fs::metadata(layout.dir.join(name))?.len();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::testutil::{cmd, Model, TempDir};
    use proptest::prelude::*;

    fn set(k: &str) -> Vec<u8> {
        cmd(&[b"SET", k.as_bytes(), b"v"])
    }

    fn t(n: u64) -> TxId {
        TxId {
            epoch: 3,
            coordinator: 1,
            counter: n,
        }
    }

    fn layout(d: &TempDir) -> Layout {
        Layout::new(d.path().join(DEFAULT_DIR), DEFAULT_NAME)
    }

    /// Recovers and replays every shard into a model.
    fn load(l: &Layout, opts: LoadOptions) -> Result<(Recovered, Vec<Model>), LoadError> {
        let r = recover(l, opts)?;
        let mut models = Vec::new();
        for s in 0..r.shards() {
            let mut m = Model::default();
            r.replay(s, |item| {
                match item {
                    Replay::Apply(p) => m.apply(p),
                    Replay::Select(db) => m.db = db,
                    Replay::RdbBase(_) => panic!("no rdb base here"),
                }
                Ok(())
            })?;
            models.push(m);
        }
        Ok((r, models))
    }

    /// Two shards: plain records around transaction 1, whose part on
    /// shard 0 has an unrelated record inside it. Returns the end
    /// positions of each shard's records (file offsets: fresh files).
    fn two_shard_history(l: &Layout) -> [Vec<u64>; 2] {
        let mut l0 = open_log(l, 0, Fsync::Always, None).unwrap();
        let mut l1 = open_log(l, 1, Fsync::Always, None).unwrap();
        let e0 = vec![
            l0.append_effects(&set("a0")).unwrap(),
            l0.append_tx_effects(t(1), &set("t1x")).unwrap(),
            l0.append_effects(&set("b0")).unwrap(),
            l0.append_tx_commit(t(1), &[0, 1]).unwrap(),
            l0.append_effects(&set("c0")).unwrap(),
        ];
        let e1 = vec![
            l1.append_effects(&set("a1")).unwrap(),
            l1.append_tx_effects(t(1), &set("t1y")).unwrap(),
            l1.append_tx_commit(t(1), &[0, 1]).unwrap(),
            l1.append_effects(&set("b1")).unwrap(),
        ];
        l0.sync_now().unwrap();
        l1.sync_now().unwrap();
        [e0, e1]
    }

    fn incr_path(l: &Layout, shard: usize) -> PathBuf {
        let m = read_manifest(l, shard).unwrap().unwrap();
        l.dir.join(&m.incrs.last().unwrap().0)
    }

    #[test]
    fn logs_of_two_shards_replay_after_reopening() {
        let d = TempDir::new("dir");
        let l = layout(&d);
        two_shard_history(&l);
        let (r, m) = load(&l, LoadOptions::default()).unwrap();
        assert_eq!(r.shards(), 2);
        assert_eq!(r.max_epoch, 3);
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        for k in ["a0", "t1x", "b0", "c0"] {
            assert!(m[0].has(0, k), "{k}");
        }
        for k in ["a1", "t1y", "b1"] {
            assert!(m[1].has(0, k), "{k}");
        }
        // A reopened log knows the commits its live files hold.
        let l0 = open_log(&l, 0, Fsync::No, None).unwrap();
        assert_eq!(l0.commits(), &[(t(1), vec![0, 1])]);
    }

    /// Copies the two incr files cut at the given lengths into a fresh
    /// directory and loads them.
    fn load_cut(src: &Layout, lens: [u64; 2]) -> (Layout, TempDir, Vec<Model>, Recovered) {
        let d = TempDir::new("cut");
        let l = layout(&d);
        fs::create_dir_all(&l.dir).unwrap();
        for s in 0..2 {
            let m = read_manifest(src, s).unwrap().unwrap();
            fs::copy(src.manifest_path(s), l.manifest_path(s)).unwrap();
            let name = &m.incrs[0].0;
            let bytes = fs::read(src.dir.join(name)).unwrap();
            fs::write(l.dir.join(name), &bytes[..lens[s] as usize]).unwrap();
        }
        let (r, m) = load(&l, LoadOptions::default()).unwrap();
        (l, d, m, r)
    }

    #[test]
    fn a_crash_at_every_byte_of_either_log_recovers_all_of_the_transaction_or_none() {
        let d = TempDir::new("bytes");
        let src = layout(&d);
        let ends = two_shard_history(&src);
        let full = [ends[0][4], ends[1][3]];
        for s in 0..2 {
            for k in 0..=full[s] {
                let mut lens = full;
                lens[s] = k;
                let (_l, _d, m, _r) = load_cut(&src, lens);
                let whole = |sh: usize, i: usize| ends[sh][i] <= lens[sh];
                let committed = whole(0, 3) && whole(1, 2);
                assert_eq!(m[0].has(0, "t1x"), committed, "shard {s} cut at {k}");
                assert_eq!(m[1].has(0, "t1y"), committed, "shard {s} cut at {k}");
                // Records before the commits (or inside the part on 0)
                // stay whenever whole; records after a commit go with it.
                assert_eq!(m[0].has(0, "a0"), whole(0, 0));
                assert_eq!(m[0].has(0, "b0"), whole(0, 2));
                assert_eq!(m[0].has(0, "c0"), whole(0, 4) && committed);
                assert_eq!(m[1].has(0, "a1"), whole(1, 0));
                assert_eq!(m[1].has(0, "b1"), whole(1, 3) && committed);
            }
        }
    }

    #[test]
    fn truncation_makes_the_cut_permanent_and_appending_continues_behind_it() {
        let d = TempDir::new("trunc");
        let src = layout(&d);
        let ends = two_shard_history(&src);
        // Shard 1 lost its commit: shard 0 is cut before its commit.
        let (l, _d, m, r) = load_cut(&src, [ends[0][4], ends[1][1]]);
        assert!(!m[0].has(0, "c0") && !m[0].has(0, "t1x"));
        assert!(
            r.notes.iter().any(|n| n.contains("did not commit")),
            "{:?}",
            r.notes
        );
        r.truncate().unwrap();
        assert_eq!(fs::metadata(incr_path(&l, 0)).unwrap().len(), ends[0][2]);
        // New records land after the cut; the discarded ones never return.
        let mut l0 = open_log(&l, 0, Fsync::Always, None).unwrap();
        l0.append_effects(&set("d0")).unwrap();
        l0.sync_now().unwrap();
        drop(l0);
        let (r, m) = load(&l, LoadOptions::default()).unwrap();
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        assert!(m[0].has(0, "d0") && m[0].has(0, "b0"));
        assert!(!m[0].has(0, "c0") && !m[0].has(0, "t1x"));
    }

    #[test]
    fn corruption_in_the_middle_stops_the_load_unless_allowed() {
        let d = TempDir::new("corrupt");
        let l = layout(&d);
        let ends = two_shard_history(&l);
        let p = incr_path(&l, 0);
        let mut b = fs::read(&p).unwrap();
        b[ends[0][0] as usize + record::HEADER_LEN + 2] ^= 0xff;
        fs::write(&p, &b).unwrap();
        let err = load(&l, LoadOptions::default()).unwrap_err();
        let LoadError::Corrupt(c) = err else {
            panic!("expected corruption")
        };
        assert_eq!(c.offset, ends[0][0]);
        assert_eq!(c.path, p);
        // Allowed: shard 0 keeps its first record; transaction 1 is cut on
        // both shards, and what followed its commit on shard 1 too.
        let (_, m) = load(
            &l,
            LoadOptions {
                allow_corrupt: true,
            },
        )
        .unwrap();
        assert!(m[0].has(0, "a0") && !m[0].has(0, "b0"));
        assert!(m[1].has(0, "a1") && !m[1].has(0, "t1y") && !m[1].has(0, "b1"));
    }

    #[test]
    fn skipped_transaction_effects_keep_their_select() {
        let d = TempDir::new("select");
        let l = layout(&d);
        let mut l0 = open_log(&l, 0, Fsync::Always, None).unwrap();
        let mut l1 = open_log(&l, 1, Fsync::Always, None).unwrap();
        let mut tx = cmd(&[b"SELECT", b"5"]);
        tx.extend_from_slice(&set("x"));
        l0.append_tx_effects(t(9), &tx).unwrap();
        l0.append_effects(&set("after")).unwrap();
        l1.append_effects(&set("y")).unwrap();
        l0.sync_now().unwrap();
        l1.sync_now().unwrap();
        let (_, m) = load(&l, LoadOptions::default()).unwrap();
        assert!(!m[0].has(5, "x"));
        assert!(m[0].has(5, "after"), "{:?}", m[0]);
    }

    #[test]
    fn a_listed_file_that_is_missing_is_named() {
        let d = TempDir::new("missing");
        let l = layout(&d);
        two_shard_history(&l);
        let p = incr_path(&l, 1);
        fs::remove_file(&p).unwrap();
        let err = load(&l, LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains(&p.display().to_string()), "{err}");
    }

    #[test]
    fn a_missing_shard_manifest_is_refused() {
        let d = TempDir::new("gap");
        let l = layout(&d);
        two_shard_history(&l);
        fs::rename(l.manifest_path(1), l.manifest_path(2)).unwrap();
        let err = load(&l, LoadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("no manifest for shard 1"), "{err}");
    }

    #[test]
    fn manifest_text_round_trips_and_bad_lines_name_file_and_line() {
        let m = Manifest {
            base: Some(("a.s0.3.base.rdb".into(), 3, BaseFormat::Rdb)),
            incrs: vec![
                ("a.s0.3.incr.kevy".into(), 3),
                ("a.s0.4.incr.kevy".into(), 4),
            ],
        };
        let p = Path::new("/x/a.s0.manifest");
        assert_eq!(Manifest::parse(&m.to_text(), p).unwrap(), m);
        for bad in [
            "file a seq 1 type x",
            "file a seq z type i",
            "file ../a seq 1 type i",
            "nonsense",
            "file a seq 1 type b\nfile b seq 2 type b",
        ] {
            let e = Manifest::parse(bad, p).unwrap_err().to_string();
            assert!(e.contains("/x/a.s0.manifest line"), "{e}");
        }
    }

    /// The steps of a rewrite of shard 0, stopping (as a crash would)
    /// after `steps` of them. Shard 1 holds the other part of transaction
    /// 1, whose commit on shard 0 is in the files the rewrite replaces.
    fn rewrite_until(l: &Layout, steps: usize, carry: bool) {
        let mut l0 = open_log(l, 0, Fsync::Always, None).unwrap();
        let mut l1 = open_log(l, 1, Fsync::Always, None).unwrap();
        let mut state = Model::default();
        for e in [set("a"), set("b"), cmd(&[b"DEL", b"a"])] {
            l0.append_effects(&e).unwrap();
            state.apply(&e);
        }
        l0.append_tx_effects(t(1), &set("t")).unwrap();
        state.apply(&set("t"));
        l0.append_tx_commit(t(1), &[0, 1]).unwrap();
        l1.append_tx_effects(t(1), &set("u")).unwrap();
        l1.append_tx_commit(t(1), &[0, 1]).unwrap();
        l1.append_effects(&set("after-u")).unwrap();
        l0.sync_now().unwrap();
        l1.sync_now().unwrap();
        if steps == 0 {
            return;
        }
        assert_eq!(l0.commits(), &[(t(1), vec![0, 1])]);
        let mut rw = begin_rewrite(l, 0, &mut l0, |_, _| carry).unwrap();
        assert_eq!(l0.commits().len(), usize::from(carry));
        // Effects after the switch point go to the new incr file.
        l0.append_effects(&set("c")).unwrap();
        l0.sync_now().unwrap();
        if steps == 1 {
            return;
        }
        if steps == 2 {
            // Crash in the middle of writing the base: a temp file is left.
            let tmp = rw.temp_base(l, BaseFormat::Records);
            fs::write(tmp, b"partial").unwrap();
            return;
        }
        rw.write_base(l, BaseFormat::Records, |sink| {
            for ((db, k), v) in &state.keys {
                let mut e = cmd(&[b"SELECT", db.to_string().as_bytes()]);
                e.extend_from_slice(&cmd(&[b"SET", k, v]));
                sink.effects(&e)?;
            }
            Ok(())
        })
        .unwrap();
        if steps == 3 {
            return;
        }
        let old: Vec<(String, Vec<u8>)> = fs::read_dir(&l.dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().contains(".s0.1."))
            .map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                (n, fs::read(e.path()).unwrap())
            })
            .collect();
        assert!(!old.is_empty());
        rw.install(l).unwrap();
        for (n, _) in &old {
            assert!(!l.dir.join(n).exists(), "{n} should be deleted");
        }
        if steps == 5 {
            // Crash between the manifest's rename and the deletions: the
            // old files are still there, unlisted.
            for (n, b) in &old {
                fs::write(l.dir.join(n), b).unwrap();
            }
        }
        l0.append_effects(&set("d")).unwrap();
        l0.sync_now().unwrap();
    }

    #[test]
    fn a_crash_after_any_step_of_a_rewrite_loses_nothing() {
        for steps in 0..=5 {
            let d = TempDir::new("rewrite");
            let l = layout(&d);
            rewrite_until(&l, steps, true);
            let (r, m) = load(&l, LoadOptions::default()).unwrap();
            assert!(r.notes.is_empty(), "step {steps}: {:?}", r.notes);
            assert!(!m[0].has(0, "a"), "step {steps}");
            for k in ["b", "t"] {
                assert!(m[0].has(0, k), "step {steps}: {k}");
            }
            assert_eq!(m[0].has(0, "c"), steps >= 1, "step {steps}");
            assert_eq!(m[0].has(0, "d"), steps >= 4, "step {steps}");
            assert!(m[1].has(0, "u") && m[1].has(0, "after-u"), "step {steps}");
            let installed = read_manifest(&l, 0).unwrap().unwrap();
            assert_eq!(installed.base.is_some(), steps >= 4, "step {steps}");
            // Opening cleans what the manifest does not list.
            r.truncate().unwrap();
            let reopened = open_log(&l, 0, Fsync::No, None).unwrap();
            // Carried or original, the commit is still in the live files.
            assert_eq!(reopened.commits(), &[(t(1), vec![0, 1])], "step {steps}");
            drop(reopened);
            let listed = installed.incrs.len() + installed.base.iter().count() + 1;
            let ours = fs::read_dir(&l.dir)
                .unwrap()
                .filter(|e| {
                    let n = e
                        .as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .into_owned();
                    n.contains(".s0.")
                })
                .count();
            assert_eq!(ours, listed, "step {steps}");
        }
    }

    #[test]
    fn a_base_that_drops_a_commit_another_shard_still_names_loses_that_shard() {
        // Why begin_rewrite carries commits: without it, shard 1's commit
        // of transaction 1 names a shard whose log no longer has it.
        let d = TempDir::new("nocarry");
        let l = layout(&d);
        rewrite_until(&l, 4, false);
        let (_, m) = load(&l, LoadOptions::default()).unwrap();
        assert!(!m[1].has(0, "u") && !m[1].has(0, "after-u"));
    }

    #[test]
    fn log_size_counts_base_and_incr_files() {
        let d = TempDir::new("size");
        let l = layout(&d);
        rewrite_until(&l, 4, true);
        let m = read_manifest(&l, 0).unwrap().unwrap();
        let expect: u64 = [m.base.unwrap().0, m.incrs[0].0.clone()]
            .iter()
            .map(|n| fs::metadata(l.dir.join(n)).unwrap().len())
            .sum();
        assert_eq!(log_size(&l, 0).unwrap(), expect);
        assert!(expect > 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Both logs cut at random byte offsets together.
        #[test]
        fn random_byte_cuts_of_both_logs_keep_the_transaction_atomic(x in any::<u16>(), y in any::<u16>()) {
            let d = TempDir::new("both");
            let src = layout(&d);
            let ends = two_shard_history(&src);
            let lens = [x as u64 % (ends[0][4] + 1), y as u64 % (ends[1][3] + 1)];
            let (_l, _d, m, _r) = load_cut(&src, lens);
            prop_assert_eq!(m[0].has(0, "t1x"), m[1].has(0, "t1y"));
            prop_assert_eq!(m[0].has(0, "t1x"), ends[0][3] <= lens[0] && ends[1][2] <= lens[1]);
        }
    }

    /// A small deterministic generator for the end-to-end run.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    /// What a reply waits for: per shard, the log position it needs
    /// inside the stable cut; and the keys it wrote.
    struct Reply {
        needs: Vec<(usize, u64)>,
        keys: Vec<(usize, String)>,
    }

    /// The runtime's side of the `always` contract, end to end: three
    /// shards append plain writes and cross-shard transactions, group
    /// commit through the fsync threads, and release replies by
    /// [`Stability`]. Then a power cut keeps each file's synced prefix and
    /// any part of the rest; recovery must keep every acknowledged write
    /// and every transaction whole.
    #[test]
    fn always_loses_nothing_acknowledged_across_a_power_cut() {
        use crate::aof::recovery::Stability;
        use std::sync::mpsc;
        const N: usize = 3;
        for seed in 1..=6u64 {
            let d = TempDir::new("e2e");
            let l = layout(&d);
            let (tx, rx) = mpsc::channel::<()>();
            let mut logs: Vec<Log> = (0..N)
                .map(|s| {
                    let tx = std::sync::Mutex::new(tx.clone());
                    let notify: Notify = Box::new(move || {
                        let _ = tx.lock().unwrap().send(());
                    });
                    open_log(&l, s, Fsync::Always, Some(notify)).unwrap()
                })
                .collect();
            let mut rng = Lcg(seed);
            let mut board = Stability::new(N);
            let mut waiting: Vec<Reply> = Vec::new();
            let mut acked: Vec<(usize, String)> = Vec::new();
            let mut txs: Vec<Vec<(usize, String)>> = Vec::new();
            for step in 0..150u64 {
                // One reactor iteration's appends.
                for _ in 0..rng.next(4) {
                    if rng.next(3) > 0 {
                        let s = rng.next(N as u64) as usize;
                        let k = format!("p{step}-{}", rng.next(1 << 30));
                        let end = logs[s].append_effects(&set(&k)).unwrap();
                        waiting.push(Reply {
                            needs: vec![(s, end)],
                            keys: vec![(s, k)],
                        });
                    } else {
                        let mask = rng.next((1 << N) - 1) + 1;
                        let parts: Vec<u32> =
                            (0..N as u32).filter(|p| mask >> p & 1 == 1).collect();
                        let id = TxId {
                            epoch: 1,
                            coordinator: 0,
                            counter: txs.len() as u64,
                        };
                        let mut reply = Reply {
                            needs: Vec::new(),
                            keys: Vec::new(),
                        };
                        for &p in &parts {
                            let p = p as usize;
                            let k = format!("t{}-{p}", id.counter);
                            logs[p].append_tx_effects(id, &set(&k)).unwrap();
                            let start = logs[p].appended();
                            let end = logs[p].append_tx_commit(id, &parts).unwrap();
                            board.commit(p, start, end, id, &parts);
                            reply.needs.push((p, end));
                            reply.keys.push((p, k));
                        }
                        txs.push(reply.keys.clone());
                        waiting.push(reply);
                    }
                }
                for log in &mut logs {
                    log.flush().unwrap();
                }
                // Sometimes wait for an fsync to finish, as a reactor
                // would be woken.
                if rng.next(2) == 0 && logs.iter().any(|g| g.synced() < g.written()) {
                    rx.recv().unwrap();
                }
                for (s, log) in logs.iter().enumerate() {
                    board.synced(s, log.synced());
                }
                waiting.retain(|r| {
                    let ok = r.needs.iter().all(|&(s, end)| end <= board.stable(s));
                    if ok {
                        acked.extend(r.keys.iter().cloned());
                    }
                    !ok
                });
            }
            let synced: Vec<u64> = logs.iter().map(|g| g.synced()).collect();
            drop(logs);
            assert!(!acked.is_empty(), "seed {seed}: nothing was acknowledged");
            for variant in 0..4u64 {
                // The power cut: each file keeps its synced prefix and
                // some of what was written after it.
                let cut = TempDir::new("e2e-cut");
                let cl = layout(&cut);
                fs::create_dir_all(&cl.dir).unwrap();
                for (s, &synced) in synced.iter().enumerate() {
                    fs::copy(l.manifest_path(s), cl.manifest_path(s)).unwrap();
                    let name = read_manifest(&l, s).unwrap().unwrap().incrs[0].0.clone();
                    let bytes = fs::read(l.dir.join(&name)).unwrap();
                    let extra = bytes.len() as u64 - synced;
                    let keep = synced + rng.next(extra + 1) * variant.min(1);
                    fs::write(cl.dir.join(&name), &bytes[..keep as usize]).unwrap();
                }
                let (_, m) = load(&cl, LoadOptions::default()).unwrap();
                for (s, k) in &acked {
                    assert!(
                        m[*s].has(0, k),
                        "seed {seed} variant {variant}: acked {k} lost"
                    );
                }
                for keys in &txs {
                    let present: Vec<bool> = keys.iter().map(|(s, k)| m[*s].has(0, k)).collect();
                    assert!(
                        present.iter().all(|&x| x) || present.iter().all(|&x| !x),
                        "seed {seed} variant {variant}: partial transaction {keys:?}"
                    );
                }
            }
        }
    }
}
