//! Client-side caching (CLIENT TRACKING), the server's half: the keys each
//! tracking connection read, kept by the shard that owns them (a store
//! observer, so every write path reaches it), the prefixes broadcasting
//! connections follow (one directory all shards read), and the
//! invalidations a write makes, handed to the runtime at the execution
//! point. Delivery, and what crosses cores, is kevy-rt's (its crate doc,
//! "Client-side caching").
//!
//! A server where nobody ever turned tracking on pays one branch per
//! command: the table is attached to a shard's store only while some
//! connection tracks or the shard still remembers reads. It is attached
//! at the first write a shard makes while some connection tracks, a
//! command's or not (a key a command run by copy writes back, active
//! expiry, eviction), since a connection following prefixes hears of a
//! write only from the owner's table. While it is, a
//! command that neither reads for a tracking client nor writes what the
//! table knows of pays a branch more: the table raises a flag the shard
//! shares when it has something for the execution point.

use crate::ctx::Session;
use crate::server::{Server, ShardPublished};
use crate::service::Kevy;
use crate::shard::Shard;
use crate::table::flag;
use kevy_resp::Args;
use kevy_rt::{ClientCtx, Effects, Route, Tracking};
use kevy_store::{Change, DbChange, Observer};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Arc, Mutex, MutexGuard};

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// Redis's `tracking-table-max-keys` default.
pub const DEFAULT_MAX_KEYS: u64 = 1_000_000;

/// What every shard shares about tracking.
pub struct Global {
    /// Connections with tracking on (INFO `tracking_clients`). Raised
    /// before CLIENT TRACKING answers, so a command sent after the answer
    /// finds it raised on whatever shard it runs.
    clients: AtomicU64,
    /// The connections that turned tracking on at some point and are still
    /// open: an entry of the table is pruned of other ids (closed
    /// connections, which Redis skips when it sends) as it grows.
    live: Mutex<HashSet<u64>>,
    /// The broadcasting directory.
    dir: Arc<Directory>,
    /// `tracking-table-max-keys` (0: no limit).
    max_keys: AtomicU64,
}

/// The prefixes broadcasting connections follow, replaced whole when they
/// change, and a version every shard's table compares with its copy's on
/// each write it hears of.
#[derive(Default)]
struct Directory {
    prefixes: Mutex<Arc<Prefixes>>,
    gen: AtomicU64,
}

/// The prefixes broadcasting connections follow, in byte order (Redis's
/// radix tree order), each with its followers.
#[derive(Default, Debug)]
pub struct Prefixes {
    list: Vec<(Vec<u8>, Vec<Follower>)>,
}

/// A broadcasting connection following a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Follower {
    id: u64,
    home: u32,
    noloop: bool,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            clients: AtomicU64::new(0),
            live: Mutex::default(),
            dir: Arc::default(),
            max_keys: AtomicU64::new(DEFAULT_MAX_KEYS),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding it leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Global {
    /// Whether some connection tracks: the execution point's one test.
    #[inline(always)]
    pub fn in_use(&self) -> bool {
        self.clients.load(Relaxed) != 0
    }

    /// INFO's `tracking_clients`.
    pub fn clients(&self) -> u64 {
        self.clients.load(Relaxed)
    }

    /// INFO's `tracking_total_prefixes`.
    pub fn prefix_count(&self) -> usize {
        lock(&self.dir.prefixes).list.len()
    }

    pub fn set_max_keys(&self, n: u64) {
        self.max_keys.store(n, Relaxed);
    }

    /// Replaces what connection `id` follows with `prefixes` (none: it
    /// follows nothing).
    fn follow(&self, id: u64, home: u32, noloop: bool, prefixes: &[Vec<u8>]) {
        let mut dir = lock(&self.dir.prefixes);
        let mut list: Vec<(Vec<u8>, Vec<Follower>)> = dir
            .list
            .iter()
            .map(|(p, fs)| {
                (
                    p.clone(),
                    fs.iter().copied().filter(|f| f.id != id).collect(),
                )
            })
            .collect();
        for p in prefixes {
            let f = Follower { id, home, noloop };
            match list.binary_search_by(|(q, _)| q.as_slice().cmp(p)) {
                Ok(i) => list[i].1.push(f),
                Err(i) => list.insert(i, (p.clone(), vec![f])),
            }
        }
        list.retain(|(_, fs)| !fs.is_empty());
        *dir = Arc::new(Prefixes { list });
        // Under the lock, so a copy and its version go together. Release
        // pairs with the Acquire of a table that hears of a write: one
        // that sees the new version reads the new prefixes.
        self.dir.gen.fetch_add(1, Release);
    }
}

/// Turns tracking on for `client` (CLIENT TRACKING ON …): `options` are the
/// mode bits, `redirect` the client its invalidations go to (0: none) and
/// that client's home. Counted before the reply leaves.
pub fn enable(
    server: &Server,
    client: &mut ClientCtx,
    session: &mut Session,
    options: u8,
    redirect: (u64, u32),
) {
    let g = &server.tracking;
    let t = &mut client.tracking;
    if !t.on() {
        g.clients.fetch_add(1, Release);
        if !session.tracked {
            session.tracked = true;
            lock(&g.live).insert(client.id);
        }
    }
    // Redis keeps CLIENT CACHING's flag across a re-enable and resets the
    // rest.
    t.flags = Tracking::ON | (t.flags & Tracking::CACHING) | options;
    session.tracking_redirect = redirect;
    if redirect.0 != 0 {
        // The target may be a RESP3 connection found at its home: such
        // connections stay on their shard from now on.
        kevy_rt::note_redirect();
    }
}

/// Publishes the prefixes a broadcasting connection follows.
pub fn follow(server: &Server, client: &ClientCtx, prefixes: &[Vec<u8>]) {
    let noloop = client.tracking.has(Tracking::NOLOOP);
    server
        .tracking
        .follow(client.id, client.home, noloop, prefixes);
}

/// Turns tracking off for `client` (CLIENT TRACKING OFF, RESET, closing):
/// it follows no prefix any more. Its reads stay until a write or an
/// eviction of the key drops them, as in Redis (a connection that turns
/// tracking on again is told of them).
pub fn disable(server: &Server, client: &mut ClientCtx, session: &mut Session) {
    let g = &server.tracking;
    let t = &mut client.tracking;
    if t.has(Tracking::BCAST) || !session.tracking_prefixes.is_empty() {
        g.follow(client.id, client.home, false, &[]);
        session.tracking_prefixes.clear();
    }
    session.tracking_redirect = (0, 0);
    if t.on() {
        g.clients.fetch_sub(1, Release);
    }
    *t = Tracking::default();
}

/// A connection that turned tracking on at some point closed: its reads
/// are pruned as their entries grow (or dropped when the keys change).
pub fn closed(server: &Server, client: &mut ClientCtx, session: &mut Session) {
    disable(server, client, session);
    if session.tracked {
        lock(&server.tracking.live).remove(&client.id);
    }
}

/// A tracking connection that read a key: its id and home shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reader {
    id: u64,
    home: u32,
}

/// The readers of one key: one held in place (most keys have one), a
/// short list, or a map once a key is read by many, so a read of a hot
/// key stays cheap.
enum Readers {
    One(Reader),
    Few(Vec<Reader>),
    Many(Box<Map<u64, u32>>),
}

impl Readers {
    /// Readers a list holds before it becomes a map.
    const FEW: usize = 16;

    fn len(&self) -> usize {
        match self {
            Readers::One(_) => 1,
            Readers::Few(v) => v.len(),
            Readers::Many(m) => m.len(),
        }
    }

    /// Adds `r`; false when it was there.
    fn insert(&mut self, r: Reader) -> bool {
        match self {
            Readers::One(x) if *x == r => false,
            Readers::One(x) => {
                *self = Readers::Few(vec![*x, r]);
                true
            }
            Readers::Few(v) if v.contains(&r) => false,
            Readers::Few(v) if v.len() < Self::FEW => {
                v.push(r);
                true
            }
            Readers::Few(v) => {
                let mut m: Map<u64, u32> = v.iter().map(|r| (r.id, r.home)).collect();
                m.insert(r.id, r.home);
                *self = Readers::Many(Box::new(m));
                true
            }
            Readers::Many(m) => m.insert(r.id, r.home).is_none(),
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) {
        match self {
            Readers::One(x) => {
                if !keep(x.id) {
                    *self = Readers::Few(Vec::new());
                }
            }
            Readers::Few(v) => v.retain(|r| keep(r.id)),
            Readers::Many(m) => m.retain(|&id, _| keep(id)),
        }
    }

    fn each(&self, mut f: impl FnMut(Reader)) {
        match self {
            Readers::One(r) => f(*r),
            Readers::Few(v) => v.iter().for_each(|&r| f(r)),
            Readers::Many(m) => m.iter().for_each(|(&id, &home)| f(Reader { id, home })),
        }
    }
}

/// The writer of an invalidation made by the command running now, filled
/// in when it ends (nobody's, when no command made it).
const NOW: u64 = u64::MAX;

/// The keys a table remembers, with their readers, grouped by hash slot:
/// the keys of the slots that leave the shard are found without a walk
/// over the rest ([`slots_leave`]), so what a move adds to its freeze
/// grows with the tracked keys it takes, not with the whole table.
#[derive(Default)]
struct Keys {
    /// One map per slot, in place (no pointer to follow on a lookup),
    /// all 16,384 made when the first key arrives.
    slots: Vec<HashMap<Vec<u8>, Readers, Seeded>>,
    len: usize,
    /// The slot the limit's next eviction starts from.
    next: usize,
}

/// The hasher of every slot's map: one random seed per process, kept
/// once rather than in each of the 16,384 maps. Keys are the clients',
/// so the seed is random (no chosen collisions).
#[derive(Default, Clone, Copy)]
struct Seeded;

impl std::hash::BuildHasher for Seeded {
    type Hasher = ahash::AHasher;

    fn build_hasher(&self) -> ahash::AHasher {
        static SEED: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
        SEED.get_or_init(ahash::RandomState::new).build_hasher()
    }
}

impl Keys {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    fn get(&self, key: &[u8]) -> Option<&Readers> {
        self.slots.get(kevy_rt::slot(key) as usize)?.get(key)
    }

    /// Remembers that `r` read `key`: how many readers the key has now,
    /// or `None` when `r` was one already.
    fn insert(&mut self, key: &[u8], r: Reader) -> Option<usize> {
        if self.slots.is_empty() {
            self.slots.resize_with(kevy_rt::SLOTS, HashMap::default);
        }
        let m = &mut self.slots[kevy_rt::slot(key) as usize];
        // One lookup for a key read before, the common case.
        match m.get_mut(key) {
            Some(readers) => readers.insert(r).then(|| readers.len()),
            None => {
                m.insert(key.to_vec(), Readers::One(r));
                self.len += 1;
                Some(1)
            }
        }
    }

    fn get_mut(&mut self, key: &[u8]) -> Option<&mut Readers> {
        self.slots
            .get_mut(kevy_rt::slot(key) as usize)?
            .get_mut(key)
    }

    fn remove(&mut self, key: &[u8]) -> Option<Readers> {
        let r = self
            .slots
            .get_mut(kevy_rt::slot(key) as usize)?
            .remove(key)?;
        self.len -= 1;
        Some(r)
    }

    fn clear(&mut self) {
        self.slots = Vec::new();
        self.len = 0;
    }

    /// Takes the keys of `slots`, with their readers.
    fn take_slots(&mut self, slots: &kevy_rt::SlotSet) -> Vec<(Vec<u8>, Readers)> {
        let mut out = Vec::new();
        if self.is_empty() {
            return out;
        }
        for s in slots.iter() {
            let m = std::mem::take(&mut self.slots[s as usize]);
            self.len -= m.len();
            out.extend(m);
        }
        out
    }

    /// Up to `n` keys, slot after slot from where the last call stopped,
    /// so that evictions spread over the slots.
    fn some(&mut self, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let total = self.slots.len();
        for _ in 0..total {
            if out.len() >= n {
                break;
            }
            out.extend(self.slots[self.next].keys().take(n - out.len()).cloned());
            self.next = (self.next + 1) % total;
        }
        out
    }
}

/// One shard's tracking state, observing its store: who read which key
/// (keys of any database: Redis's table is by name), and what writes
/// invalidated since the last drain.
pub struct Table {
    keys: Keys,
    /// Readers over all keys (INFO `tracking_total_items`).
    items: usize,
    /// Keys written with the readers they had, and who wrote them (0: no
    /// client: an expiry, an eviction, a copy's write-back; [`NOW`]).
    pending: Vec<(Vec<u8>, Readers, u64)>,
    /// A database was flushed.
    flushed: bool,
    dir: Arc<Directory>,
    prefixes: Arc<Prefixes>,
    gen: u64,
    /// Keys written this iteration under each followed prefix, each with
    /// its last writer (for NOLOOP), in byte order as Redis lists them.
    bcast: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, u64>>,
    /// The (prefix, key) entries of `bcast` the running command wrote.
    fresh: Vec<(Vec<u8>, Vec<u8>)>,
    /// Eviction rounds in a row that left the table over its limit (the
    /// next round tries harder, as Redis's `trackingLimitUsedSlots`).
    rounds: u32,
    /// Raised when a write gave the execution point something to do; the
    /// shard holds it too, so it looks without finding the table.
    due: Rc<Cell<bool>>,
    /// The counts last published for INFO.
    published: (usize, usize),
    /// Keys change stores because their slot moves ([`moving`]), not
    /// because anyone wrote them.
    moving: bool,
}

impl Table {
    fn new(dir: Arc<Directory>, due: Rc<Cell<bool>>) -> Table {
        Table {
            keys: Keys::default(),
            items: 0,
            pending: Vec::new(),
            flushed: false,
            dir,
            prefixes: Arc::default(),
            gen: u64::MAX,
            bcast: BTreeMap::new(),
            fresh: Vec::new(),
            rounds: 0,
            due,
            published: (usize::MAX, usize::MAX),
            moving: false,
        }
    }

    /// Reads the broadcasting directory again if it changed.
    fn refresh(&mut self) {
        if self.dir.gen.load(Acquire) != self.gen {
            let p = lock(&self.dir.prefixes);
            self.gen = self.dir.gen.load(Relaxed);
            self.prefixes = p.clone();
        }
    }

    /// The writes of the command that just ended were `writer`'s (0:
    /// nobody's).
    fn settle(&mut self, writer: u64) {
        self.settle_split(writer, writer);
    }

    /// As [`Self::settle`], with the broadcast writes `bcast_writer`'s: a
    /// script's writes are its caller's to NOLOOP's tracked keys, but
    /// broadcast as written by the script's own client, which nobody
    /// is, as Redis does.
    fn settle_split(&mut self, writer: u64, bcast_writer: u64) {
        for (_, _, w) in &mut self.pending {
            if *w == NOW {
                *w = writer;
            }
        }
        for (p, k) in self.fresh.drain(..) {
            if let Some(w) = self.bcast.get_mut(&p).and_then(|keys| keys.get_mut(&k)) {
                if *w == NOW {
                    *w = bcast_writer;
                }
            }
        }
        self.due.set(false);
    }

    /// Remembers that `r` read `key`. An entry that doubles past eight
    /// readers drops those no longer tracking, so connections that come
    /// and go leave at most as many stale ids as live ones.
    fn record(&mut self, g: &Global, key: &[u8], r: Reader) {
        let Some(n) = self.keys.insert(key, r) else {
            return;
        };
        self.items += 1;
        // Found again, in cache, only when it prunes.
        if n >= 8 && n.is_power_of_two() {
            let readers = self.keys.get_mut(key).expect("inserted above");
            let live = lock(&g.live);
            readers.retain(|id| live.contains(&id));
            self.items -= n - readers.len();
        }
    }

    /// Forgets `key`'s readers, to be told it changed (or was evicted).
    fn invalidate(&mut self, key: &[u8], writer: u64) {
        if let Some(readers) = self.keys.remove(key) {
            self.items -= readers.len();
            self.pending.push((key.to_vec(), readers, writer));
            self.due.set(true);
        }
    }
}

impl Observer for Table {
    fn changed(&mut self, _db: usize, key: &[u8], change: Change) {
        // An expiry or eviction is nobody's write, so NOLOOP does not
        // hide it.
        let writer = if matches!(change, Change::Expired | Change::Evicted) {
            0
        } else {
            NOW
        };
        if !self.keys.is_empty() {
            self.invalidate(key, writer);
        }
        if self.moving {
            return;
        }
        self.refresh();
        let Table {
            prefixes,
            bcast,
            fresh,
            due,
            ..
        } = self;
        for (p, _) in &prefixes.list {
            if key.starts_with(p) {
                bcast
                    .entry(p.clone())
                    .or_default()
                    .insert(key.to_vec(), writer);
                if writer == NOW {
                    fresh.push((p.clone(), key.to_vec()));
                    due.set(true);
                }
            }
        }
    }

    fn db_changed(&mut self, _db: usize, change: DbChange<'_>) {
        // A flush of any database invalidates everything for everyone, and
        // Redis forgets every read; SWAPDB tells nobody.
        if let DbChange::Flushed { .. } = change {
            self.flushed = true;
            self.keys.clear();
            self.items = 0;
            self.due.set(true);
        }
    }
}

fn table(shard: &mut Shard) -> Option<&mut Table> {
    if !shard.track_attached {
        return None;
    }
    shard.store.observer_mut::<Table>()
}

/// Attaches the table to the shard's store, if it is not.
fn attach<'a>(shard: &'a mut Shard, g: &Global) -> &'a mut Table {
    if !shard.track_attached {
        let due = shard.track_due.clone();
        shard.store.observe(Table::new(g.dir.clone(), due));
        shard.track_attached = true;
    }
    shard
        .store
        .observer_mut::<Table>()
        .expect("track_attached says a Table observes the store")
}

/// Attaches the table while some connection tracks, for writes that do
/// not run through [`call`]: keys a command run by copy writes back,
/// active expiry and eviction. A shard that ran no command since tracking
/// began has none, and a connection following prefixes (BCAST) learns of
/// a write only from the table of the shard that owns the key.
pub fn watch_writes(server: &Server, shard: &mut Shard) {
    if !shard.track_attached && !shard.scratch && server.tracking.in_use() {
        attach(shard, &server.tracking);
    }
}

/// Runs a command's handler while tracking is in use: the table listens
/// to its writes, and remembers the keys it read for a tracking client.
#[cold]
#[inline(never)]
pub fn call(
    kevy: &Kevy,
    f: fn(&mut crate::ctx::Ctx<'_>),
    shard: &mut Shard,
    client: &ClientCtx,
    cmd: u16,
    args: Args<'_>,
    sink: &mut kevy_rt::Sink<'_>,
) {
    // A scratch shard's writes reach the owners as imports.
    watch_writes(&kevy.server, shard);
    f(&mut crate::ctx::Ctx {
        shard: &mut *shard,
        db: client.db as usize,
        client,
        args,
        out: kevy_resp::Reply::new(&mut *sink.out, client.resp3),
    });
    after(kevy, shard, client, cmd, args, sink.effects);
}

/// After a command ran while tracking is in use: the keys a tracking
/// client read are remembered (by their owners, for a command run by copy
/// on a scratch shard), and what the command invalidated goes to the
/// runtime.
fn after(
    kevy: &Kevy,
    shard: &mut Shard,
    client: &ClientCtx,
    cmd: u16,
    args: Args<'_>,
    effects: &mut Effects,
) {
    let server = &*kevy.server;
    let reads = client.tracking.records_reads() && reads(server, cmd, args);
    // The keys a script's commands read (the script itself is no reading
    // command).
    let script_reads = std::mem::take(&mut shard.script_reads);
    if shard.scratch {
        if reads {
            for k in read_keys(kevy, client, shard.nshards, cmd, args) {
                effects.pushes.track_read(client.id, client.home, k);
            }
        }
        for k in &script_reads {
            effects.pushes.track_read(client.id, client.home, k);
        }
        return;
    }
    // Not a scratch shard: its slot map is the server's.
    let (id, n, slots) = (shard.id, shard.nshards, &*server.slots);
    if !script_reads.is_empty() {
        let t = attach(shard, &server.tracking);
        let r = Reader {
            id: client.id,
            home: client.home,
        };
        for k in script_reads.iter().filter(|k| slots.shard_of(k) == id) {
            t.record(&server.tracking, k, r);
        }
        limit(t, &server.tracking, &server.published, id);
        publish(t, &server.published[id]);
    }
    if reads {
        let keys = read_keys(kevy, client, n, cmd, args);
        let t = attach(shard, &server.tracking);
        let r = Reader {
            id: client.id,
            home: client.home,
        };
        for k in keys.filter(|k| slots.shard_of(k) == id) {
            t.record(&server.tracking, k, r);
        }
        limit(t, &server.tracking, &server.published, id);
        publish(t, &server.published[id]);
    }
    if shard.track_due.get() {
        let scripted = crate::scripting::is_script(server.table.get(cmd));
        if let Some(t) = table(shard) {
            t.settle_split(client.id, if scripted { 0 } else { client.id });
            drain(t, effects);
            publish(t, &server.published[id]);
        }
    }
}

/// Whether the command reads, for tracking: it is read-only, or, for a
/// container, its subcommand is (OBJECT ENCODING reads; OBJECT itself has
/// no flags, as in Redis).
fn reads(server: &Server, cmd: u16, args: Args<'_>) -> bool {
    let spec = server.table.get(cmd);
    if args.len() < 2 {
        return spec.flags & flag::READONLY != 0;
    }
    let subs = server.table.subs(cmd);
    if !subs.is_empty() {
        return crate::families::common::find_sub(args, subs)
            .is_ok_and(|s| s.flags & flag::READONLY != 0);
    }
    if spec.flags & flag::READONLY != 0 {
        return true;
    }
    // A container whose subcommands one handler runs: Redis's word for
    // the subcommand.
    let Some(doc) = doc_container(cmd) else {
        return false;
    };
    let sub = String::from_utf8_lossy(args.get(1)).to_ascii_lowercase();
    let full = format!("{}|{sub}", spec.name);
    crate::families::command::docs::find_sub(doc, &full)
        .is_some_and(|d| d.flags.contains(&"readonly"))
}

/// The documentation of command `cmd` if it is a container whose
/// subcommands one handler runs, found once per command id for the
/// process (ids are the built-in table's, as the ACL index's), not by
/// name at each command a tracking client sends.
fn doc_container(cmd: u16) -> Option<&'static crate::families::command::docs::Doc> {
    use crate::families::command::docs;
    static CONTAINERS: std::sync::OnceLock<Vec<Option<&'static docs::Doc>>> =
        std::sync::OnceLock::new();
    let all = CONTAINERS.get_or_init(|| {
        crate::table::Table::new()
            .iter()
            .map(|spec| docs::find(spec.name).filter(|d| !d.subcommands.is_empty()))
            .collect()
    });
    all.get(cmd as usize).copied().flatten()
}

/// The keys of a command a tracking client read: those routing finds, or
/// the table's key range for a command that reaches every shard (Redis's
/// `getKeysFromCommand`).
fn read_keys<'a>(
    kevy: &Kevy,
    client: &ClientCtx,
    nshards: usize,
    cmd: u16,
    args: Args<'a>,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    use kevy_rt::Service;
    let spec = kevy.server.table.get(cmd);
    let (first, last, step, extra) = match kevy.route(args, client, nshards) {
        Ok((
            _,
            Route::Keys {
                first,
                last,
                step,
                extra,
                ..
            },
        )) => (
            first as i64,
            last as i64,
            step.max(1) as usize,
            extra as usize,
        ),
        _ if spec.first > 0 => (
            spec.first as i64,
            spec.last as i64,
            spec.step.max(1) as usize,
            0,
        ),
        _ => (1, 0, 1, 0),
    };
    let argc = args.len() as i64;
    let last = if last < 0 { argc + last } else { last }.min(argc - 1);
    let range = (first..=last).step_by(step).map(|i| i as usize);
    let extra = (extra != 0 && (extra as i64) < argc).then_some(extra);
    range.chain(extra).map(move |i| args.get(i))
}

/// Reads a command run by copy made, recorded by the key's owner.
pub fn track_read(server: &Server, shard: &mut Shard, client: u64, home: u32, key: &[u8]) {
    let id = shard.id;
    let t = attach(shard, &server.tracking);
    t.record(&server.tracking, key, Reader { id: client, home });
    limit(t, &server.tracking, &server.published, id);
    publish(t, &server.published[id]);
}

/// Keeps the keys remembered on all shards within `tracking-table-max-keys`
/// by forgetting keys of this shard, whose readers are told as if the
/// keys changed. Each round does a bounded amount of work, more after
/// rounds that left the table over the limit (Redis's effort).
fn limit(t: &mut Table, g: &Global, published: &[ShardPublished], me: usize) {
    let max = g.max_keys.load(Relaxed);
    if max == 0 {
        return;
    }
    let others: u64 = published
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != me)
        .map(|(_, p)| p.tracking_keys.load(Relaxed))
        .sum();
    let total = others + t.keys.len() as u64;
    if total > max {
        // The keys the table's order gives first, each found in one pass.
        let effort = 100 * (t.rounds as u64 + 1);
        let n = (total - max).min(effort) as usize;
        let evicted = t.keys.some(n);
        for key in evicted {
            t.invalidate(&key, 0);
        }
    }
    if others + t.keys.len() as u64 > max && !t.keys.is_empty() {
        t.rounds = t.rounds.saturating_add(1);
    } else {
        t.rounds = 0;
    }
}

/// Hands the invalidations gathered so far to the runtime: one message
/// per reader of each written key (a RESP array of that key), and a flush.
fn drain(t: &mut Table, effects: &mut Effects) {
    if t.flushed {
        t.flushed = false;
        t.pending.clear();
        effects.pushes.flush_tracking();
    }
    if t.pending.is_empty() {
        return;
    }
    let mut payload = Vec::new();
    for (key, readers, writer) in t.pending.drain(..) {
        payload.clear();
        push_keys(&mut payload, std::iter::once(key.as_slice()), 1);
        readers.each(|r| {
            effects
                .pushes
                .invalidate(r.home, r.id, writer, false, &payload)
        });
    }
}

/// `keys` as a RESP array of `n` bulk strings.
fn push_keys<'a>(out: &mut Vec<u8>, keys: impl Iterator<Item = &'a [u8]>, n: usize) {
    use std::io::Write;
    let _ = write!(out, "*{n}\r\n");
    for k in keys {
        let _ = write!(out, "${}\r\n", k.len());
        out.extend_from_slice(k);
        out.extend_from_slice(b"\r\n");
    }
}

fn publish(t: &mut Table, p: &ShardPublished) {
    let now = (t.keys.len(), t.items);
    if now != t.published {
        t.published = now;
        p.tracking_keys.store(now.0 as u64, Relaxed);
        p.tracking_items.store(now.1 as u64, Relaxed);
    }
}

/// Once per loop iteration, before delivery: the broadcasting connections
/// get the keys written under their prefixes since the last time, one
/// message per prefix (without the keys they wrote themselves under
/// NOLOOP), and anything else still gathered goes out.
pub fn flush_pushes(server: &Server, shard: &mut Shard, effects: &mut Effects) {
    let id = shard.id;
    let Some(t) = table(shard) else {
        return;
    };
    // Writes no command made (a load, a key found expired as it was
    // copied out) are nobody's.
    t.settle(0);
    drain(t, effects);
    if !t.bcast.is_empty() {
        t.refresh();
        broadcast(t, effects);
    }
    publish(t, &server.published[id]);
}

fn broadcast(t: &mut Table, effects: &mut Effects) {
    let written = std::mem::take(&mut t.bcast);
    let mut common = Vec::new();
    let mut own = Vec::new();
    for (prefix, keys) in &written {
        let Ok(i) = t
            .prefixes
            .list
            .binary_search_by(|(q, _)| q.as_slice().cmp(prefix))
        else {
            continue;
        };
        common.clear();
        push_keys(&mut common, keys.keys().map(Vec::as_slice), keys.len());
        for f in &t.prefixes.list[i].1 {
            let payload = if f.noloop && keys.values().any(|&w| w == f.id) {
                let n = keys.values().filter(|&&w| w != f.id).count();
                if n == 0 {
                    continue;
                }
                own.clear();
                let theirs = keys.iter().filter(|(_, &w)| w != f.id).map(|(k, _)| k);
                push_keys(&mut own, theirs.map(Vec::as_slice), n);
                &own
            } else {
                &common
            };
            effects.pushes.invalidate(f.home, f.id, 0, true, payload);
        }
    }
}

/// Every tick: the limit holds even while idle (a CONFIG SET lowered it),
/// and what expiry invalidated goes out. A shard that remembers no read
/// while nobody tracks lets go of the table, back to one branch per
/// command.
pub fn tick(server: &Server, shard: &mut Shard, effects: &mut Effects) {
    if !shard.track_attached {
        return;
    }
    let g = &server.tracking;
    let id = shard.id;
    if let Some(t) = table(shard) {
        limit(t, g, &server.published, id);
    }
    flush_pushes(server, shard, effects);
    let idle = table(shard).is_some_and(|t| t.keys.is_empty() && t.bcast.is_empty());
    if idle && !g.in_use() {
        shard.store.unobserve::<Table>();
        shard.track_attached = false;
    }
}

/// Runs `f`, in which keys leave or enter the store because their hash
/// slot moves (kevy-rt's crate doc, "Moving slots to the cores that have
/// time"): the readers of a key that leaves are invalidated, as their
/// reads are remembered here and not where the key goes (their next read
/// is tracked there), but connections that follow key prefixes (BCAST)
/// hear nothing: nobody wrote the key, and its new owner broadcasts its
/// writes as this shard did.
pub fn moving<R>(shard: &mut Shard, f: impl FnOnce(&mut Shard) -> R) -> R {
    if let Some(t) = table(shard) {
        t.moving = true;
    }
    let r = f(shard);
    if let Some(t) = table(shard) {
        t.moving = false;
    }
    r
}

/// Slots leave this shard: the readers of every key in them that it
/// tracks are told, whether or not the key exists. A read of a missing
/// key is tracked too, and the take ([`moving`]) invalidates only the
/// keys it moves; the key's next write happens at the new owner, which
/// does not know the reader, so unless told now the reader would keep
/// its cached answer for good.
pub fn slots_leave(shard: &mut Shard, slots: &kevy_rt::SlotSet) {
    let Some(t) = table(shard) else {
        return;
    };
    let gone = t.keys.take_slots(slots);
    if gone.is_empty() {
        return;
    }
    for (key, readers) in gone {
        t.items -= readers.len();
        t.pending.push((key, readers, 0));
    }
    t.due.set(true);
}

/// Hands over what a copy's write-back (a command run by copy on a
/// scratch shard) invalidated: writes with no writer here.
pub fn drain_into(shard: &mut Shard, effects: &mut Effects) {
    if shard.track_due.get() {
        if let Some(t) = table(shard) {
            t.settle(0);
            drain(t, effects);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_store::{SetTtl, Store, Value};

    fn new_table(g: &Global) -> Table {
        Table::new(g.dir.clone(), Rc::default())
    }

    fn store_with_table(g: &Global) -> Store {
        let mut st = Store::new(2);
        st.set_now(1000);
        st.observe(new_table(g));
        st
    }

    fn table(st: &mut Store) -> &mut Table {
        st.observer_mut::<Table>().unwrap()
    }

    fn reader(id: u64) -> Reader {
        Reader { id, home: 0 }
    }

    fn set(st: &mut Store, db: usize, key: &str) {
        st.db(db)
            .set(key.as_bytes(), Value::string(b"v"), SetTtl::Clear);
    }

    /// The pending invalidations as (key, sorted reader ids, writer).
    fn pending(t: &mut Table) -> Vec<(String, Vec<u64>, u64)> {
        t.pending
            .drain(..)
            .map(|(k, readers, w)| {
                let mut ids = Vec::new();
                readers.each(|r| ids.push(r.id));
                ids.sort_unstable();
                (String::from_utf8(k).unwrap(), ids, w)
            })
            .collect()
    }

    #[test]
    fn a_write_invalidates_the_readers_of_the_key_in_any_database_once() {
        let g = Global::default();
        let mut st = store_with_table(&g);
        let t = table(&mut st);
        t.record(&g, b"k", reader(1));
        t.record(&g, b"k", reader(2));
        t.record(&g, b"k", reader(1));
        t.record(&g, b"j", reader(1));
        assert_eq!((t.keys.len(), t.items), (2, 3));
        assert!(!t.due.get());
        set(&mut st, 1, "k");
        let t = table(&mut st);
        assert!(t.due.get());
        t.settle(7);
        assert!(!t.due.get());
        assert_eq!(pending(t), [("k".into(), vec![1, 2], 7)]);
        assert_eq!((t.keys.len(), t.items), (1, 1));
        // Forgotten: a second write tells nobody.
        set(&mut st, 0, "k");
        assert_eq!(pending(table(&mut st)), []);
    }

    #[test]
    fn an_expiry_is_nobodys_write_and_a_flush_forgets_everything() {
        let g = Global::default();
        let mut st = store_with_table(&g);
        st.db(0).set(b"t", Value::string(b"v"), SetTtl::At(1500));
        let t = table(&mut st);
        t.record(&g, b"t", reader(1));
        t.record(&g, b"u", reader(2));
        st.set_now(2000);
        assert!(st.db(0).get(b"t").is_none());
        let t = table(&mut st);
        t.settle(9);
        assert_eq!(pending(t), [("t".into(), vec![1], 0)]);
        st.db(1).flush();
        let t = table(&mut st);
        assert!(t.flushed);
        assert_eq!((t.keys.len(), t.items), (0, 0));
        // SWAPDB tells nobody.
        t.flushed = false;
        t.record(&g, b"s", reader(3));
        set(&mut st, 0, "x");
        st.swap_db(0, 1);
        let t = table(&mut st);
        assert!(!t.flushed);
        assert_eq!(t.keys.len(), 1);
    }

    #[test]
    fn readers_that_closed_are_pruned_as_an_entry_doubles() {
        let g = Global::default();
        lock(&g.live).extend([1, 40]);
        let mut t = new_table(&g);
        for id in 1..=7 {
            t.record(&g, b"hot", reader(id));
        }
        assert_eq!(t.items, 7);
        // The eighth makes it prune: only 1 and 40 track.
        t.record(&g, b"hot", reader(40));
        assert_eq!((t.keys.get(b"hot").unwrap().len(), t.items), (2, 2));
        // Past a few readers the entry is a map, deduplicated as well.
        lock(&g.live).extend(100..200);
        for id in 100..140 {
            t.record(&g, b"hot", reader(id));
            t.record(&g, b"hot", reader(id));
        }
        assert!(matches!(t.keys.get(b"hot"), Some(Readers::Many(_))));
        assert_eq!(t.items, 42);
    }

    #[test]
    fn the_limit_forgets_keys_and_their_readers_are_told() {
        let g = Global::default();
        g.set_max_keys(3);
        let published: Vec<ShardPublished> = (0..2).map(|_| ShardPublished::default()).collect();
        let mut t = new_table(&g);
        for i in 0..10 {
            t.record(&g, format!("k{i}").as_bytes(), reader(i));
        }
        limit(&mut t, &g, &published, 0);
        assert_eq!(t.keys.len(), 3);
        let told = pending(&mut t);
        assert_eq!(told.len(), 7);
        assert!(told.iter().all(|(_, ids, w)| ids.len() == 1 && *w == 0));
        // Keys another shard remembers count too.
        published[1].tracking_keys.store(2, Relaxed);
        limit(&mut t, &g, &published, 0);
        assert_eq!(t.keys.len(), 1);
        // 0: no limit.
        g.set_max_keys(0);
        for i in 0..10 {
            t.record(&g, format!("m{i}").as_bytes(), reader(i));
        }
        limit(&mut t, &g, &published, 0);
        assert_eq!(t.keys.len(), 11);
    }

    #[test]
    fn the_keys_of_leaving_slots_are_taken_and_the_others_stay() {
        let g = Global::default();
        let mut t = new_table(&g);
        // `{a}x` and `{a}y` share a slot; `b` is elsewhere.
        t.record(&g, b"{a}x", reader(1));
        t.record(&g, b"{a}x", reader(2));
        t.record(&g, b"{a}y", reader(1));
        t.record(&g, b"b", reader(3));
        assert_ne!(kevy_rt::slot(b"{a}x"), kevy_rt::slot(b"b"));
        let leaving = kevy_rt::SlotSet::one(kevy_rt::slot(b"{a}x"));
        let mut taken: Vec<(Vec<u8>, usize)> = t
            .keys
            .take_slots(&leaving)
            .into_iter()
            .map(|(k, r)| (k, r.len()))
            .collect();
        taken.sort();
        assert_eq!(taken, [(b"{a}x".to_vec(), 2), (b"{a}y".to_vec(), 1)]);
        assert_eq!(t.keys.len(), 1);
        assert!(t.keys.get(b"{a}x").is_none());
        assert_eq!(t.keys.get(b"b").map(Readers::len), Some(1));
        // A slot that left once leaves nothing the second time.
        assert!(t.keys.take_slots(&leaving).is_empty());
        assert!(t.keys.remove(b"b").is_some());
        assert!(t.keys.is_empty());
    }

    #[test]
    fn evictions_walk_the_slots_in_turn() {
        let g = Global::default();
        let mut t = new_table(&g);
        for i in 0..100 {
            t.record(&g, format!("k{i}").as_bytes(), reader(1));
        }
        let first = t.keys.some(30);
        assert_eq!(first.len(), 30);
        for k in &first {
            assert!(t.keys.remove(k).is_some());
        }
        // The next call starts past the slots the first one drew from,
        // and finds the rest however they are spread.
        let rest = t.keys.some(1000);
        assert_eq!(rest.len(), 70);
        assert!(rest.iter().all(|k| !first.contains(k)));
    }

    #[test]
    fn writes_under_followed_prefixes_are_gathered_with_their_last_writer() {
        let g = Global::default();
        g.follow(5, 0, false, &[b"user:".to_vec(), b"".to_vec()]);
        g.follow(6, 1, true, &[b"user:".to_vec()]);
        let mut st = store_with_table(&g);
        set(&mut st, 0, "user:2");
        set(&mut st, 1, "other");
        table(&mut st).settle(6);
        set(&mut st, 0, "user:1");
        let t = table(&mut st);
        t.settle(7);
        let gathered: Vec<(String, Vec<(String, u64)>)> = t
            .bcast
            .iter()
            .map(|(p, keys)| {
                let keys = keys
                    .iter()
                    .map(|(k, &w)| (String::from_utf8(k.clone()).unwrap(), w))
                    .collect();
                (String::from_utf8(p.clone()).unwrap(), keys)
            })
            .collect();
        assert_eq!(
            gathered,
            [
                (
                    "".into(),
                    vec![
                        ("other".into(), 6),
                        ("user:1".into(), 7),
                        ("user:2".into(), 6)
                    ]
                ),
                (
                    "user:".into(),
                    vec![("user:1".into(), 7), ("user:2".into(), 6)]
                ),
            ]
        );
        assert_eq!(g.prefix_count(), 2);
        g.follow(5, 0, false, &[]);
        g.follow(6, 1, true, &[]);
        assert_eq!(g.prefix_count(), 0);
    }
}
