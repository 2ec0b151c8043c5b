//! The execution point: the one call through which every keyed command
//! runs, whatever brought it (inline on the home shard, from a peer's ring,
//! deferred behind a lock, inside a transaction, run by copy on a scratch
//! shard). It hands the command a [`Sink`]; what the command did comes back
//! through it: the reply bytes, and the effects a log or a replica must
//! replay. Statistics are taken behind this call, once per command (the
//! service times it), and nothing else in the runtime calls
//! [`Service::exec`].

use crate::service::{ClientCtx, Service};
use kevy_resp::Args;

/// What a command reports besides its reply.
pub struct Sink<'a> {
    /// The reply bytes for the command's own connection.
    pub out: &'a mut Vec<u8>,
    /// The shard's effects stream, and (in [`Effects::pushes`]) the
    /// messages the command sends to other connections.
    pub effects: &'a mut Effects,
    /// Which part this is of a command split over shards (MGET, DEL, …):
    /// part 0 is the call statistics count; other parts add their time.
    /// A blocked command run again for its waiter (with `may_block`) is
    /// part 1: its call was counted when it blocked.
    pub part: u32,
    /// The command may block: it runs on its own, outside MULTI and
    /// outside a transaction (crate doc, "Blocking"). A blocking command
    /// that may not answers as its non-blocking form would.
    pub may_block: bool,
    /// Some transaction holds or waits for keys of this shard: a command
    /// that reaches keys it did not declare (a script) may use only its
    /// declared ones (crate doc, "Scripts").
    pub locked: bool,
    /// Set by a blocking command that found nothing to serve and wants
    /// to wait: how long, in milliseconds (0: for ever). It then writes
    /// no reply; the runtime parks the client and runs the command again
    /// when one of its keys is written.
    pub block: Option<u64>,
    /// The runtime can run the command again over the whole keyspace when
    /// it reaches keys its run cannot (a script: crate doc, "Scripts").
    pub may_escalate: bool,
    /// Set by a command (with `may_escalate`) that reached a key its run
    /// cannot and undid what it did: it wrote no reply, and the runtime
    /// runs it again as a whole-keyspace transaction by copy.
    pub escalate: bool,
}

/// One shard's effects stream: the writes a log or a replica must replay,
/// in the order the shard applied them, as RESP arrays, each database
/// change preceded by a `SELECT`. An effect is deterministic (a command
/// whose outcome depends on randomness or on the clock is recorded as what
/// it did) and is recorded only when it changed something.
///
/// Effects of a cross-shard transaction are *tagged* with it
/// ([`Effects::set_tx`]), and the transaction's coordinator records its
/// *decision* ([`Effects::commit_tx`]) once every part has been applied and
/// logged on every participant (crate doc, "Durability"): a consumer keeps
/// them apart so that recovery applies a transaction's effects on every
/// shard, or on none.
///
/// Nothing is collected while no consumer is attached (`enabled` is
/// false), so a server without persistence or replicas pays one branch per
/// write.
#[derive(Default, Debug)]
pub struct Effects {
    enabled: bool,
    buf: Vec<u8>,
    /// Database the last recorded effect applies to.
    db: Option<u32>,
    count: u64,
    /// The transaction effects recorded now belong to.
    tx: Option<TxTag>,
    /// Where tags change and decisions fall, as offsets into `buf`.
    marks: Vec<(usize, Mark)>,
    /// The tag in force where `buf` starts.
    open_tag: Option<TxTag>,
    /// Messages to other connections (keyspace events). They ride with
    /// the effects because everything that writes (a command, the active
    /// expiry cycle, a copy's write-back) already holds this struct; they
    /// are collected whether or not a log is attached.
    pub pushes: Pushes,
}

/// Messages a shard's commands send to other connections: pub/sub
/// messages every shard's subscribers may receive (keyspace
/// notifications). The runtime delivers them, in the order they were
/// made, before the replies of the commands that made them leave and
/// before any later PUBLISH of the shard's connections (crate doc,
/// "Pub/sub").
#[derive(Default, Debug)]
pub struct Pushes {
    /// Some connection of some shard has a subscription (refreshed by the
    /// runtime each iteration): when false nobody could receive a message,
    /// and a command skips composing one.
    listening: bool,
    /// Channel then message bytes of each message, back to back.
    data: Vec<u8>,
    /// Channel and message lengths, in order, and whether the message is
    /// for shard-channel subscribers (SPUBLISH).
    items: Vec<(u32, u32, bool)>,
    /// Invalidations for tracking clients (client-side caching), in the
    /// order they were made; their payloads back to back in `inval_data`.
    invals: Vec<Inval>,
    inval_data: Vec<u8>,
    /// Reads of tracking clients that the keys' owners record (a command
    /// run by copy on a scratch shard made them); keys in `read_data`.
    reads: Vec<(u64, u32, u32)>,
    read_data: Vec<u8>,
    /// The shard flushed a database: every tracking connection of this
    /// shard gets a null invalidation (every shard runs its part of a
    /// flush, so every connection gets one).
    flushed: bool,
    /// Any of the three above waits: one test for all.
    tracking: bool,
}

/// An invalidation for one tracking client: `len` payload bytes (a RESP
/// array of keys) in `Pushes::inval_data`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inval {
    /// The tracking client's home shard, and its id.
    pub home: u32,
    pub client: u64,
    /// The client whose write caused it (0: none, an expiry or an
    /// eviction), for NOLOOP.
    pub writer: u64,
    /// A broadcasting-mode message (by prefix), else one of a read key.
    pub bcast: bool,
    /// The sequence number of the reply it follows: the tracking client's
    /// own write, run for it on another shard ([`NO_SEQ`] for none).
    pub after: u64,
    pub len: u32,
}

/// [`Inval::after`] when the invalidation follows no reply in particular.
pub(crate) const NO_SEQ: u64 = u64::MAX;

impl Pushes {
    /// Whether a published message could reach anyone.
    #[inline]
    pub fn listening(&self) -> bool {
        self.listening
    }

    pub(crate) fn set_listening(&mut self, on: bool) {
        self.listening = on;
    }

    /// Publishes `message` on `channel` to the subscribers of every shard,
    /// counting no receivers. A message made while nobody listens is
    /// dropped.
    pub fn publish(&mut self, channel: &[u8], message: &[u8]) {
        self.push_message(channel, message, false);
    }

    /// Publishes `message` on shard channel `channel` (SPUBLISH) to the
    /// shard-channel subscribers of every shard, as [`Self::publish`].
    pub fn spublish(&mut self, channel: &[u8], message: &[u8]) {
        self.push_message(channel, message, true);
    }

    fn push_message(&mut self, channel: &[u8], message: &[u8], sharded: bool) {
        if !self.listening {
            return;
        }
        self.data.extend_from_slice(channel);
        self.data.extend_from_slice(message);
        self.items
            .push((channel.len() as u32, message.len() as u32, sharded));
    }

    /// Invalidates, for tracking client `client` of shard `home`, the keys
    /// in `payload` (a RESP array of bulk strings) because `writer` (0:
    /// no client) wrote them; `bcast`: a broadcasting-mode message. The
    /// client's home checks its state when it arrives, as Redis does when
    /// it sends.
    pub fn invalidate(&mut self, home: u32, client: u64, writer: u64, bcast: bool, payload: &[u8]) {
        self.tracking = true;
        self.inval_data.extend_from_slice(payload);
        self.invals.push(Inval {
            home,
            client,
            writer,
            bcast,
            after: NO_SEQ,
            len: payload.len() as u32,
        });
    }

    /// Every tracking connection of this shard gets a null invalidation
    /// (FLUSHALL, FLUSHDB: Redis invalidates everything).
    pub fn flush_tracking(&mut self) {
        self.tracking = true;
        self.flushed = true;
    }

    /// Asks `key`'s owner to record that tracking client `client` (home
    /// `home`) read it: a read made on a scratch shard.
    pub fn track_read(&mut self, client: u64, home: u32, key: &[u8]) {
        self.tracking = true;
        self.read_data.extend_from_slice(key);
        self.reads.push((client, home, key.len() as u32));
    }

    /// How many invalidations wait: a mark for [`Self::follow_reply`].
    #[inline]
    pub(crate) fn inval_count(&self) -> usize {
        self.invals.len()
    }

    /// The invalidations made since `mark` that `client` caused by writing
    /// keys it read itself follow the reply numbered `seq`.
    #[cold]
    pub(crate) fn follow_reply(&mut self, mark: usize, client: u64, seq: u64) {
        for i in &mut self.invals[mark..] {
            if i.client == client && i.writer == client && !i.bcast {
                i.after = seq;
            }
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty() && !self.tracking
    }

    /// Whether tracking messages or reads wait (as opposed to pub/sub
    /// messages only).
    #[inline]
    pub(crate) fn has_tracking(&self) -> bool {
        self.tracking
    }

    /// Hands out every invalidation with its payload, in order, whether a
    /// flush happened, and clears them.
    pub(crate) fn drain_invals(&mut self, mut f: impl FnMut(Inval, &[u8])) -> bool {
        let mut at = 0;
        for &i in &self.invals {
            let len = i.len as usize;
            f(i, &self.inval_data[at..at + len]);
            at += len;
        }
        self.invals.clear();
        self.inval_data.clear();
        if self.inval_data.capacity() > 1 << 20 {
            self.inval_data = Vec::new();
        }
        self.tracking = !self.reads.is_empty();
        std::mem::take(&mut self.flushed)
    }

    /// Hands out every read to record as `(client, home, key)`, in order,
    /// and clears them.
    pub(crate) fn drain_reads(&mut self, mut f: impl FnMut(u64, u32, &[u8])) {
        let mut at = 0;
        for &(client, home, len) in &self.reads {
            let len = len as usize;
            f(client, home, &self.read_data[at..at + len]);
            at += len;
        }
        self.reads.clear();
        self.read_data.clear();
        self.tracking = !self.invals.is_empty() || self.flushed;
    }

    /// Moves `other`'s messages after these (a command run by copy hands
    /// its shard's messages to the shard that ran it).
    pub(crate) fn append(&mut self, other: &mut Pushes) {
        self.data.append(&mut other.data);
        self.items.append(&mut other.items);
    }

    /// Hands out every message as `(channel, message, sharded)`, in
    /// order, and clears them.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(&[u8], &[u8], bool)) {
        let mut at = 0;
        for &(c, m, sharded) in &self.items {
            let (c, m) = (c as usize, m as usize);
            f(
                &self.data[at..at + c],
                &self.data[at + c..at + c + m],
                sharded,
            );
            at += c + m;
        }
        self.items.clear();
        self.data.clear();
        if self.data.capacity() > 1 << 20 {
            self.data = Vec::new();
        }
    }
}

/// Where a shard's effects and pushes stand, to cut them back to when an
/// attempt is undone (a script that reaches a key its run cannot: crate
/// doc, "Scripts").
#[derive(Clone, Copy, Debug)]
pub struct Checkpoint {
    buf: usize,
    count: u64,
    marks: usize,
    db: Option<u32>,
    tx: Option<TxTag>,
    pushes: (usize, usize),
}

/// A cross-shard transaction, as its coordinator numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxTag {
    /// The coordinating shard.
    pub coord: u32,
    /// The coordinator's count of logged transactions.
    pub seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    /// Effects from here on belong to this transaction (or to none).
    Tx(Option<TxTag>),
    /// The transaction's decision: every part is applied and logged.
    Commit(TxTag),
}

/// A piece of the effects stream as [`Effects::take_records`] hands it out.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// Effects outside any cross-shard transaction (RESP arrays).
    Effects(&'a [u8]),
    /// Effects of one cross-shard transaction on this shard.
    TxEffects(TxTag, &'a [u8]),
    /// The transaction's decision (recorded by its coordinator).
    Commit(TxTag),
}

impl Effects {
    /// Starts or stops collecting (a consumer attaching or leaving).
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on {
            self.buf.clear();
            self.marks.clear();
            self.db = None;
        }
    }

    /// Tags what is recorded from now on with transaction `tx` (`None`:
    /// no transaction). Callers tag around each transaction command.
    #[inline]
    pub fn set_tx(&mut self, tx: Option<TxTag>) {
        if self.enabled && self.tx != tx {
            self.marks.push((self.buf.len(), Mark::Tx(tx)));
            self.tx = tx;
        }
    }

    /// Records transaction `tx`'s decision.
    pub fn commit_tx(&mut self, tx: TxTag) {
        if self.enabled {
            self.marks.push((self.buf.len(), Mark::Commit(tx)));
        }
    }

    /// Hands out what was recorded since the last take, in order, split
    /// into [`Record`]s, and clears it.
    pub fn take_records(&mut self, mut f: impl FnMut(Record<'_>)) {
        let mut tag: Option<TxTag> = self.first_tag();
        let mut from = 0;
        let marks = std::mem::take(&mut self.marks);
        for &(at, m) in &marks {
            if at > from {
                f(piece(tag, &self.buf[from..at]));
                from = at;
            }
            match m {
                Mark::Tx(t) => tag = t,
                Mark::Commit(t) => f(Record::Commit(t)),
            }
        }
        if self.buf.len() > from {
            f(piece(tag, &self.buf[from..]));
        }
        self.buf.clear();
        self.count = 0;
        self.marks = marks;
        self.marks.clear();
        // What follows continues under the current tag.
        self.open_tag = self.tx;
    }

    /// The tag in force at the start of the buffer.
    fn first_tag(&self) -> Option<TxTag> {
        self.open_tag
    }

    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Where the stream stands now.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            buf: self.buf.len(),
            count: self.count,
            marks: self.marks.len(),
            db: self.db,
            tx: self.tx,
            pushes: (self.pushes.data.len(), self.pushes.items.len()),
        }
    }

    /// Forgets what was recorded and pushed since `c` (taken since the
    /// last take).
    pub fn cut_back(&mut self, c: Checkpoint) {
        self.buf.truncate(c.buf);
        self.count = c.count;
        self.marks.truncate(c.marks);
        self.db = c.db;
        self.tx = c.tx;
        self.pushes.data.truncate(c.pushes.0);
        self.pushes.items.truncate(c.pushes.1);
    }

    /// Records one effect: `argv` applied to database `db`.
    pub fn emit<'a>(&mut self, db: u32, argv: impl ExactSizeIterator<Item = &'a [u8]>) {
        if !self.enabled {
            return;
        }
        self.select(db);
        push_array(&mut self.buf, argv);
        self.count += 1;
    }

    /// Records `count` effects already encoded as RESP arrays, all applied
    /// to database `db` (a command that states its own effects, see
    /// kevy-server's `propagate`).
    pub fn emit_resp(&mut self, db: u32, resp: &[u8], count: u64) {
        if !self.enabled || count == 0 {
            return;
        }
        self.select(db);
        self.buf.extend_from_slice(resp);
        self.count += count;
    }

    fn select(&mut self, db: u32) {
        if self.db != Some(db) {
            let db_text = db.to_string();
            push_array(
                &mut self.buf,
                [&b"SELECT"[..], db_text.as_bytes()].into_iter(),
            );
            self.db = Some(db);
        }
    }

    /// Effects recorded since the last take, as RESP, and how many
    /// (transaction tags and decisions are dropped: see `take_records`).
    pub fn take(&mut self) -> (Vec<u8>, u64) {
        self.marks.clear();
        self.open_tag = self.tx;
        (
            std::mem::take(&mut self.buf),
            std::mem::take(&mut self.count),
        )
    }
}

impl Effects {
    /// Hands out each recorded effect in order (taken since the last
    /// take): its database, its RESP array and its arguments. A
    /// `SELECT` only sets the database of the effects after it.
    pub(crate) fn each(&self, mut f: impl FnMut(u32, &[u8], Args<'_>)) {
        let mut db = 0;
        let mut at = 0;
        let mut spans = Vec::new();
        while at < self.buf.len() {
            let start = at;
            spans.clear();
            let (n, next) = read_header(&self.buf, at);
            at = next;
            for _ in 0..n {
                let (len, next) = read_header(&self.buf, at);
                spans.push(kevy_resp::Span {
                    start: next as u32,
                    len: len as u32,
                });
                at = next + len + 2;
            }
            let args = Args::new(&self.buf, &spans);
            if args.len() == 2 && args.get(0) == b"SELECT" {
                db = std::str::from_utf8(args.get(1))
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                continue;
            }
            f(db, &self.buf[start..at], args);
        }
    }

    /// Records the effects of `share` (see [`Share`]), in order.
    pub fn emit_share(&mut self, share: &Share) {
        let mut start = 0;
        for &(db, end, count) in &share.runs {
            self.emit_resp(db, &share.buf[start..end], count);
            start = end;
        }
    }
}

/// The header `<kind><n>\r\n` at `at` of a buffer this module wrote:
/// `n` and where the header ends.
fn read_header(buf: &[u8], at: usize) -> (usize, usize) {
    let mut n = 0;
    let mut i = at + 1;
    while buf[i] != b'\r' {
        n = n * 10 + (buf[i] - b'0') as usize;
        i += 1;
    }
    (n, i + 2)
}

/// The effects of a command run by copy that one shard's log records
/// (crate doc, "Durability"): the commands whose keys are all that
/// shard's, in the order they ran, each with its database.
#[derive(Default, Debug)]
pub struct Share {
    buf: Vec<u8>,
    /// Per run of effects on one database: the database, where the run
    /// ends in `buf`, and how many effects it holds.
    runs: Vec<(u32, usize, u64)>,
}

impl Share {
    /// Adds one effect, `resp` (a RESP array), applied to database `db`.
    pub fn push(&mut self, db: u32, resp: &[u8]) {
        self.buf.extend_from_slice(resp);
        match self.runs.last_mut() {
            Some(r) if r.0 == db => {
                r.1 = self.buf.len();
                r.2 += 1;
            }
            _ => self.runs.push((db, self.buf.len(), 1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

fn piece(tag: Option<TxTag>, resp: &[u8]) -> Record<'_> {
    match tag {
        Some(t) => Record::TxEffects(t, resp),
        None => Record::Effects(resp),
    }
}

fn push_array<'a>(buf: &mut Vec<u8>, argv: impl ExactSizeIterator<Item = &'a [u8]>) {
    push_header(buf, b'*', argv.len());
    for a in argv {
        push_header(buf, b'$', a.len());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// `<kind><n>\r\n`, the number formatted without allocating: every write
/// passes here while a log is on.
#[inline]
fn push_header(buf: &mut Vec<u8>, kind: u8, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.push(kind);
    buf.extend_from_slice(&digits[i..]);
    buf.extend_from_slice(b"\r\n");
}

/// Runs a keyed or whole-keyspace command on `shard`, its reply appended
/// to `out`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<S: Service>(
    svc: &S,
    shard: &mut S::Shard,
    effects: &mut Effects,
    client: &ClientCtx,
    cmd: S::Cmd,
    args: Args<'_>,
    part: u32,
    locked: bool,
    out: &mut Vec<u8>,
) {
    let mut sink = Sink {
        out,
        effects,
        part,
        may_block: false,
        locked,
        block: None,
        may_escalate: false,
        escalate: false,
    };
    svc.exec(shard, client, cmd, args, &mut sink);
}

/// Runs a command as [`run`] does, where the runtime can escalate it
/// ([`Sink::may_escalate`]); true when it asks to (and then it wrote no
/// reply).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_escalable<S: Service>(
    svc: &S,
    shard: &mut S::Shard,
    effects: &mut Effects,
    client: &ClientCtx,
    cmd: S::Cmd,
    args: Args<'_>,
    part: u32,
    locked: bool,
    out: &mut Vec<u8>,
) -> bool {
    let mut sink = Sink {
        out,
        effects,
        part,
        may_block: false,
        locked,
        block: None,
        may_escalate: true,
        escalate: false,
    };
    svc.exec(shard, client, cmd, args, &mut sink);
    sink.escalate
}

/// Runs a command that may block ([`Sink::may_block`]); returns its
/// request to block, if it made one (and then it wrote no reply). The hot
/// path of every inline command, like [`run`]. A waiter served later runs
/// again as a `part` other than 0: as in Redis, the call counts once, when
/// it is first made, and the serving adds its time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_may_block<S: Service>(
    svc: &S,
    shard: &mut S::Shard,
    effects: &mut Effects,
    client: &ClientCtx,
    cmd: S::Cmd,
    args: Args<'_>,
    part: u32,
    locked: bool,
    out: &mut Vec<u8>,
) -> Option<u64> {
    let mut sink = Sink {
        out,
        effects,
        part,
        may_block: true,
        locked,
        block: None,
        may_escalate: false,
        escalate: false,
    };
    svc.exec(shard, client, cmd, args, &mut sink);
    sink.block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_transaction_effects_and_decisions_apart() {
        let t = TxTag { coord: 1, seq: 7 };
        let mut e = Effects::default();
        e.set_enabled(true);
        e.emit(0, [&b"SET"[..], b"a", b"1"].into_iter());
        e.set_tx(Some(t));
        e.emit(0, [&b"SET"[..], b"b", b"2"].into_iter());
        e.set_tx(None);
        e.emit(0, [&b"DEL"[..], b"c"].into_iter());
        e.set_tx(Some(t));
        let mut got = Vec::new();
        e.take_records(|r| got.push(format!("{r:?}")));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].starts_with("Effects("), "{got:?}");
        assert!(
            got[1].starts_with("TxEffects(TxTag { coord: 1, seq: 7 }"),
            "{got:?}"
        );
        assert!(got[2].starts_with("Effects("), "{got:?}");
        // The tag set last is still in force in the next take.
        e.emit(0, [&b"SET"[..], b"d", b"4"].into_iter());
        e.set_tx(None);
        e.commit_tx(t);
        let mut got = Vec::new();
        e.take_records(|r| got.push(format!("{r:?}")));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("TxEffects(TxTag { coord: 1, seq: 7 }"),
            "{got:?}"
        );
        assert_eq!(got[1], "Commit(TxTag { coord: 1, seq: 7 })");
        let mut n = 0;
        e.take_records(|_| n += 1);
        assert_eq!(n, 0);
    }

    #[test]
    fn cut_back_forgets_effects_and_pushes_after_the_checkpoint() {
        let mut e = Effects::default();
        e.set_enabled(true);
        e.pushes.set_listening(true);
        e.emit(0, [&b"SET"[..], b"a", b"1"].into_iter());
        e.pushes.publish(b"ch", b"one");
        e.pushes.spublish(b"sch", b"s");
        let c = e.checkpoint();
        e.emit(3, [&b"SET"[..], b"b", b"2"].into_iter());
        e.set_tx(Some(TxTag { coord: 0, seq: 1 }));
        e.pushes.publish(b"ch", b"two");
        e.cut_back(c);
        e.emit(0, [&b"DEL"[..], b"c"].into_iter());
        let mut got = Vec::new();
        e.pushes
            .drain(|c, m, sharded| got.push((c.to_vec(), m.to_vec(), sharded)));
        assert_eq!(
            got,
            vec![
                (b"ch".to_vec(), b"one".to_vec(), false),
                (b"sch".to_vec(), b"s".to_vec(), true)
            ]
        );
        let (stream, n) = e.take();
        assert_eq!(n, 2);
        // Database 0 is still selected: no SELECT before the DEL.
        assert_eq!(
            stream,
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nDEL\r\n$1\r\nc\r\n"
        );
    }

    #[test]
    fn tracking_messages_are_handed_out_in_order_and_counted_as_pending() {
        let mut p = Pushes::default();
        assert!(p.is_empty() && !p.has_tracking());
        p.invalidate(1, 7, 0, false, b"*1\r\n$1\r\na\r\n");
        p.track_read(9, 2, b"k");
        p.invalidate(0, 8, 7, true, b"*0\r\n");
        p.flush_tracking();
        assert!(!p.is_empty() && p.has_tracking());
        let mut reads = Vec::new();
        p.drain_reads(|c, h, k| reads.push((c, h, k.to_vec())));
        assert_eq!(reads, [(9, 2, b"k".to_vec())]);
        assert!(p.has_tracking(), "invalidations still wait");
        let mut got = Vec::new();
        let flushed = p.drain_invals(|i, payload| {
            got.push((i.home, i.client, i.writer, i.bcast, payload.to_vec()))
        });
        assert!(flushed);
        assert_eq!(
            got,
            [
                (1, 7, 0, false, b"*1\r\n$1\r\na\r\n".to_vec()),
                (0, 8, 7, true, b"*0\r\n".to_vec())
            ]
        );
        assert!(p.is_empty() && !p.has_tracking());
    }

    #[test]
    fn effects_are_resp_with_select_on_database_change() {
        let mut e = Effects::default();
        e.emit(0, [&b"SET"[..], b"k", b"v"].into_iter());
        assert_eq!(e.take(), (Vec::new(), 0), "nothing while disabled");
        e.set_enabled(true);
        e.emit(0, [&b"SET"[..], b"k", b"v"].into_iter());
        e.emit(0, [&b"DEL"[..], b"k"].into_iter());
        e.emit(3, [&b"DEL"[..], b"x"].into_iter());
        let (bytes, n) = e.take();
        assert_eq!(n, 3);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
             *2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n\
             *2\r\n$3\r\nDEL\r\n$1\r\nx\r\n"
        );
    }
}
