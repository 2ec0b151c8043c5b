//! Keyspace notifications (Redis's `notify.c`): what commands and expiry
//! publish on `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>`
//! when `notify-keyspace-events` asks for them.
//!
//! The classes configured live in one process-wide atomic. Each shard
//! keeps the classes *in force* for what it runs (`Shard::notify`): the
//! configured ones while somebody on some shard has a subscription and K
//! or E selects a channel, else none. With none in force a command pays
//! one branch per event it could emit, and nothing is composed. With some,
//! a [`Notifier`] observes the shard's store, so the events the store
//! itself knows of reach it where they happen: `new` when a key is
//! created, `expired` when a lookup or the active cycle finds a key's time
//! past, `keymiss` when a read finds nothing. Commands add theirs with
//! [`Ctx::notify`]. The messages wait in the notifier, in order, until the
//! execution point hands them to the runtime (`Pushes`), which delivers
//! them on every shard before the command's reply leaves.

use crate::ctx::Ctx;
use crate::shard::Shard;
use kevy_rt::Pushes;
use kevy_store::{Change, Observer};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// Redis's notification classes (`server.h`), one bit each.
pub const KEYSPACE: u32 = 1 << 0; // K
pub const KEYEVENT: u32 = 1 << 1; // E
pub const GENERIC: u32 = 1 << 2; // g
pub const STRING: u32 = 1 << 3; // $
pub const LIST: u32 = 1 << 4; // l
pub const SET: u32 = 1 << 5; // s
pub const HASH: u32 = 1 << 6; // h
pub const ZSET: u32 = 1 << 7; // z
pub const EXPIRED: u32 = 1 << 8; // x
pub const EVICTED: u32 = 1 << 9; // e
pub const STREAM: u32 = 1 << 10; // t
/// Left out of `A` on purpose, as in Redis.
pub const KEY_MISS: u32 = 1 << 11; // m
pub const MODULE: u32 = 1 << 13; // d
/// Left out of `A`, as in Redis.
pub const NEW: u32 = 1 << 14; // n
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The classes `notify-keyspace-events` names (Redis's
/// `keyspaceEventsStringToFlags`); `None` for a character that names none.
pub fn parse(classes: &[u8]) -> Option<u32> {
    let mut flags = 0;
    for &c in classes {
        flags |= match c {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// The classes as CONFIG GET shows them (Redis's
/// `keyspaceEventsFlagsToString`): `A` for every class it covers, then
/// K, E and m.
pub fn render(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// CONFIG SET's reason for a value [`parse`] refuses.
pub const INVALID: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// The configured classes (CONFIG SET, `--notify-keyspace-events`).
static CONFIGURED: AtomicU32 = AtomicU32::new(0);

/// Sets the configured classes; every shard follows before its next
/// command.
pub fn configure(flags: u32) {
    // Relaxed: the value stands alone; a shard reads it before each
    // command, and a client that saw CONFIG SET's reply sends its next
    // command after the store.
    CONFIGURED.store(flags, Relaxed);
}

/// Whether `keymiss` events may be configured: a read that finds nothing
/// then has more to do than answer.
pub fn reports_misses() -> bool {
    CONFIGURED.load(Relaxed) & KEY_MISS != 0
}

/// Whether the shard must look at its classes before running a command:
/// some are in force, or some are configured. The one branch a command
/// pays while notifications are off.
#[inline(always)]
pub fn check_due(shard: &Shard) -> bool {
    (shard.notify | CONFIGURED.load(Relaxed)) != 0
}

/// Puts in force the classes the shard must emit now (see the module
/// doc), attaching or detaching its [`Notifier`].
#[cold]
#[inline(never)]
pub fn prepare(shard: &mut Shard, listening: bool) {
    let configured = CONFIGURED.load(Relaxed);
    let want = if listening && configured & (KEYSPACE | KEYEVENT) != 0 {
        configured
    } else {
        0
    };
    if want == shard.notify {
        return;
    }
    match (shard.notify != 0, want != 0) {
        (false, true) => shard.store.observe(Notifier::default()),
        (true, false) => {
            shard.store.unobserve::<Notifier>();
        }
        _ => {}
    }
    shard.notify = want;
    if let Some(n) = shard.store.observer_mut::<Notifier>() {
        n.flags = want;
    }
}

/// Hands the messages made so far to the runtime, in order.
#[inline]
pub fn drain(shard: &mut Shard, pushes: &mut Pushes) {
    if shard.notify != 0 {
        drain_notifier(shard, pushes);
    }
}

#[cold]
#[inline(never)]
fn drain_notifier(shard: &mut Shard, pushes: &mut Pushes) {
    if let Some(n) = shard.store.observer_mut::<Notifier>() {
        n.drain(pushes);
    }
}

/// Forgets the events made since the execution point last handed them
/// on: the command that made them was undone (a script stopped at a key
/// it cannot reach).
pub fn discard(shard: &mut Shard) {
    if shard.notify != 0 {
        if let Some(n) = shard.store.observer_mut::<Notifier>() {
            n.items.clear();
            n.data.clear();
        }
    }
}

/// Runs `f` (a write that is no command's: loading, replaying the log, a
/// copy's write-back) without its events.
pub fn quiet<R>(shard: &mut Shard, f: impl FnOnce(&mut Shard) -> R) -> R {
    if shard.notify == 0 {
        return f(shard);
    }
    let flags = std::mem::take(&mut shard.notify);
    if let Some(n) = shard.store.observer_mut::<Notifier>() {
        n.flags = 0;
    }
    let r = f(shard);
    shard.notify = flags;
    if let Some(n) = shard.store.observer_mut::<Notifier>() {
        n.flags = flags;
    }
    r
}

/// The messages of one shard's commands still to hand over, and the
/// observer that adds the store's own events to them.
#[derive(Default)]
pub struct Notifier {
    /// The classes in force (the shard's `notify`).
    flags: u32,
    /// Channel then message bytes of each message, back to back.
    data: Vec<u8>,
    /// Channel and message lengths, in order.
    items: Vec<(u32, u32)>,
}

impl Notifier {
    /// Redis's `notifyKeyspaceEvent`: the keyspace message, then the
    /// keyevent one, each if K or E asks for it.
    fn emit(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        if self.flags & class == 0 {
            return;
        }
        let mut digits = itoa(db);
        let db = digits.text();
        if self.flags & KEYSPACE != 0 {
            let start = self.data.len();
            self.data.extend_from_slice(b"__keyspace@");
            self.data.extend_from_slice(db);
            self.data.extend_from_slice(b"__:");
            self.data.extend_from_slice(key);
            let channel = self.data.len() - start;
            self.data.extend_from_slice(event.as_bytes());
            self.items.push((channel as u32, event.len() as u32));
        }
        if self.flags & KEYEVENT != 0 {
            let start = self.data.len();
            self.data.extend_from_slice(b"__keyevent@");
            self.data.extend_from_slice(db);
            self.data.extend_from_slice(b"__:");
            self.data.extend_from_slice(event.as_bytes());
            let channel = self.data.len() - start;
            self.data.extend_from_slice(key);
            self.items.push((channel as u32, key.len() as u32));
        }
    }

    fn drain(&mut self, pushes: &mut Pushes) {
        let mut at = 0;
        for &(c, m) in &self.items {
            let (c, m) = (c as usize, m as usize);
            pushes.publish(&self.data[at..at + c], &self.data[at + c..at + c + m]);
            at += c + m;
        }
        self.items.clear();
        self.data.clear();
        if self.data.capacity() > 1 << 20 {
            self.data = Vec::new();
        }
    }
}

impl Observer for Notifier {
    fn changed(&mut self, db: usize, key: &[u8], change: Change) {
        match change {
            Change::Created => self.emit(NEW, "new", key, db),
            Change::Expired => self.emit(EXPIRED, "expired", key, db),
            Change::Evicted => self.emit(EVICTED, "evicted", key, db),
            Change::Updated | Change::Deleted => {}
        }
    }

    fn missed(&mut self, db: usize, key: &[u8]) {
        self.emit(KEY_MISS, "keymiss", key, db);
    }

    /// Redis's `hexpired`, then `del` when the fields were the hash's last.
    fn fields_expired(&mut self, db: usize, key: &[u8], _fields: &[Box<[u8]>], deleted: bool) {
        self.emit(HASH, "hexpired", key, db);
        if deleted {
            self.emit(GENERIC, "del", key, db);
        }
    }
}

/// A database index as decimal text, without allocating.
struct Digits {
    buf: [u8; 20],
    from: usize,
}

impl Digits {
    fn text(&mut self) -> &[u8] {
        &self.buf[self.from..]
    }
}

fn itoa(mut n: usize) -> Digits {
    let mut d = Digits {
        buf: [0; 20],
        from: 20,
    };
    loop {
        d.from -= 1;
        d.buf[d.from] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

impl Ctx<'_> {
    /// Emits event `event` of class `class` on `key` of the command's
    /// database (Redis's `notifyKeyspaceEvent`).
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.shard.notify & class != 0 {
            emit_in(self.shard, class, event, key, self.db);
        }
    }

    /// [`notify`](Self::notify) for a key of database `db` (MOVE, COPY
    /// with DB).
    #[inline]
    pub fn notify_db(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        if self.shard.notify & class != 0 {
            emit_in(self.shard, class, event, key, db);
        }
    }

    /// [`notify`](Self::notify), then `del` when the command left `key`
    /// deleted (a collection it emptied), as Redis's commands follow
    /// their event with one.
    #[inline]
    pub fn notify_and_del(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.shard.notify & (class | GENERIC) != 0 {
            self.notify(class, event, key);
            if self.shard.notify & GENERIC != 0 && !self.shard.store.db(self.db).contains(key) {
                emit_in(self.shard, GENERIC, "del", key, self.db);
            }
        }
    }

    /// Whether events of `class` are in force: a command that must work
    /// to learn what to emit (which keys a multi-key command deleted)
    /// does that work only then.
    #[inline]
    pub fn notifying(&self, class: u32) -> bool {
        self.shard.notify & class != 0
    }
}

#[cold]
#[inline(never)]
fn emit_in(shard: &mut Shard, class: u32, event: &str, key: &[u8], db: usize) {
    if let Some(n) = shard.store.observer_mut::<Notifier>() {
        n.emit(class, event, key, db);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_read_back_as_redis_shows_them() {
        let cases = [
            ("AKE", "AKE"),
            ("KEA", "AKE"),
            ("Elg", "glE"),
            ("Kl", "lK"),
            ("Ex", "xE"),
            ("Eg$", "g$E"),
            ("A", "A"),
            ("gg", "g"),
            ("nKm", "nKm"),
            ("Am", "Am"),
            ("KEAmn", "AKEm"),
            ("d", "d"),
            ("g$lshzxetd", "A"),
            ("g$lshzxet", "g$lshzxet"),
            ("", ""),
        ];
        for (given, shown) in cases {
            let flags = parse(given.as_bytes()).unwrap_or_else(|| panic!("{given}"));
            assert_eq!(render(flags), shown, "{given}");
        }
        for bad in ["xyz", "a", "k", " ", "AKE "] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn an_event_is_a_keyspace_and_a_keyevent_message() {
        let mut n = Notifier {
            flags: KEYSPACE | KEYEVENT | GENERIC,
            ..Notifier::default()
        };
        n.emit(GENERIC, "del", b"k", 12);
        n.emit(LIST, "lpush", b"k", 0);
        let mut got = Vec::new();
        for &(c, m) in &n.items {
            got.push((c, m));
        }
        assert_eq!(got.len(), 2);
        assert_eq!(
            n.data,
            b"__keyspace@12__:kdel__keyevent@12__:delk".to_vec(),
            "{:?}",
            String::from_utf8_lossy(&n.data)
        );
        n.flags = KEYEVENT | NEW;
        n.items.clear();
        n.data.clear();
        n.changed(3, b"x", Change::Created);
        n.changed(3, b"x", Change::Expired);
        assert_eq!(n.data, b"__keyevent@3__:newx".to_vec());
    }
}
