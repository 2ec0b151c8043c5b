//! What a write hands the log and replicas: its *effect*, the command that
//! replays it deterministically, as Redis propagates it.
//!
//! By default a write that changed something is its own effect: the
//! service records the command as the client sent it (see `Kevy::exec`).
//! A command whose outcome depends on the clock or on chance states its
//! effect instead with [`Ctx::propagate`], following Redis's rules:
//!
//! | command | effect |
//! |---|---|
//! | EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT | `PEXPIREAT key ms`, or `DEL key` when the time has passed |
//! | SET … EX/PX/EXAT, SETEX, PSETEX | `SET key value PXAT ms` (NX/XX/GET dropped: the outcome is known) |
//! | GETEX EX/PX/EXAT/PXAT, GETEX PERSIST | `PEXPIREAT key ms` or `DEL key`, `PERSIST key` |
//! | GETDEL | `DEL key` |
//! | INCRBYFLOAT | `SET key result KEEPTTL` |
//! | HINCRBYFLOAT | `HSETEX key KEEPTTL FIELDS 1 field result` (Redis 8's form: it keeps the field's TTL) |
//! | HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT, HGETEX EX/PX/EXAT/PXAT | `HPEXPIREAT key ms FIELDS n field…` of the fields set, `HDEL key field` per field deleted because the time had passed |
//! | HSETEX EX/PX/EXAT | `HSETEX key PXAT ms FIELDS …`, or `HDEL` of the fields when the time has passed |
//! | HGETEX PERSIST, HGETDEL | `HPERSIST key FIELDS n field…`, `HDEL key field…` |
//! | SPOP | `SREM key member…`, or `DEL key` when it took every member |
//!
//! A key deleted because its time passed, by a lookup or by the active
//! cycle, is `DEL key` (hash fields: `HDEL key field…`), recorded when it happens: before the effect of the
//! command whose lookup found it, so a replay sees the key gone when that
//! command runs. Replay therefore never expires keys itself (Redis does not
//! expire keys while loading either): every expiry it must apply is in the
//! stream.
//!
//! [`Prop`] is a store observer (it hears of expiries wherever they
//! happen) and a buffer for stated effects, in the order they occur. It is
//! attached only while the shard's effects stream has a consumer, so a
//! server without persistence or replicas pays nothing for it.
//!
//! A command run by copy on a scratch shard (a script whose keys span
//! shards, one run again over the whole keyspace, a group of them,
//! RENAME across shards, …) records its effects there by the same rules
//! when its transaction is logged. The runtime splits them per owner
//! shard by their key positions (`Kevy::effect_route`, from the command
//! table) and each owner logs its share: the commands the script ran on
//! its keys, as when the script runs on one shard. A shard whose keys an
//! effect names with another shard's (RENAME, SMOVE, LMOVE, SUNIONSTORE
//! between shards), and every shard after an effect over the whole
//! keyspace (FLUSHALL, FLUSHDB, SWAPDB, SORT with BY patterns), logs the
//! state of each key written back instead ([`import_effects`]); kevy-rt's
//! crate doc ("Durability") has the argument.

use crate::ctx::Ctx;
use kevy_resp::Reply;
use kevy_rt::Effects;
use kevy_store::{Change, Observer, Store};

/// Effects a shard collected during one command (or one active expiry
/// cycle), in order: each a RESP array and the database it applies to.
#[derive(Default)]
pub struct Prop {
    buf: Vec<u8>,
    /// (database, end of its RESP in `buf`) per effect.
    spans: Vec<(u32, usize)>,
    /// The command stated its own effect: the default (the command as
    /// sent) is not recorded.
    stated: bool,
}

impl Prop {
    fn push(&mut self, db: u32, argv: &[&[u8]]) {
        let mut r = Reply::new(&mut self.buf, false);
        r.array(argv.len());
        for a in argv {
            r.bulk(a);
        }
        self.spans.push((db, self.buf.len()));
    }

    /// Where the collected effects end now (see [`Prop::truncate`]).
    pub fn mark(&self) -> (usize, usize) {
        (self.buf.len(), self.spans.len())
    }

    /// Drops what was collected after `mark` (a script that stops undoes
    /// its writes).
    pub fn truncate(&mut self, mark: (usize, usize)) {
        self.buf.truncate(mark.0);
        self.spans.truncate(mark.1);
    }

    /// A command starts inside another (a script's `redis.call`).
    pub fn begin_nested(&mut self) {
        self.stated = false;
    }

    /// The nested command ended: unless it stated its own effect, its
    /// effect is the command itself when it `changed` something. The
    /// outer command's effect is then what its nested commands did.
    pub fn end_nested(&mut self, db: u32, argv: kevy_resp::Args<'_>, changed: bool) {
        if !self.stated && changed {
            let mut r = Reply::new(&mut self.buf, false);
            r.array(argv.len());
            for a in argv.iter() {
                r.bulk(a);
            }
            self.spans.push((db, self.buf.len()));
        }
        self.stated = true;
    }

    /// Moves what was collected to `effects`; whether the command stated
    /// its own effect.
    pub fn drain_into(&mut self, effects: &mut Effects) -> bool {
        let mut start = 0;
        let mut i = 0;
        while i < self.spans.len() {
            // Consecutive effects on one database go in one call.
            let db = self.spans[i].0;
            let mut n = 0;
            while i < self.spans.len() && self.spans[i].0 == db {
                n += 1;
                i += 1;
            }
            let end = self.spans[i - 1].1;
            effects.emit_resp(db, &self.buf[start..end], n);
            start = end;
        }
        self.buf.clear();
        self.spans.clear();
        std::mem::take(&mut self.stated)
    }
}

impl Observer for Prop {
    fn changed(&mut self, db: usize, key: &[u8], change: Change) {
        if matches!(change, Change::Expired | Change::Evicted) {
            self.push(db as u32, &[b"DEL", key]);
        }
    }

    /// Hash fields whose TTL passed are `HDEL key field…`, recorded when
    /// they go, as an expired key is `DEL`.
    fn fields_expired(&mut self, db: usize, key: &[u8], fields: &[Box<[u8]>], _deleted: bool) {
        let mut argv: Vec<&[u8]> = Vec::with_capacity(fields.len() + 2);
        argv.extend([&b"HDEL"[..], key]);
        argv.extend(fields.iter().map(|f| &f[..]));
        self.push(db as u32, &argv);
    }
}

/// Records `argv` as an effect of `shard` in database `db`, outside any
/// command's execution (a change of the server's function libraries), when
/// its effects are collected; it goes out with the shard's next effects.
pub fn record(shard: &mut crate::shard::Shard, db: u32, argv: &[&[u8]]) {
    // The Prop attaches at the shard's first command once a log consumes
    // effects; this may come first.
    if !shard.prop_attached && (shard.aof.is_some() || shard.recording) {
        follow(&mut shard.store, &mut shard.prop_attached);
    }
    if shard.prop_attached {
        shard.prop().push(db, argv);
    }
}

/// Attaches the shard's [`Prop`] when its effects stream gained a
/// consumer, detaches it when the consumer left (the caller saw `attached`
/// differ from the stream's state).
#[cold]
#[inline(never)]
pub fn follow(store: &mut Store, attached: &mut bool) {
    if *attached {
        store.unobserve::<Prop>();
    } else {
        store.observe(Prop::default());
    }
    *attached = !*attached;
}

/// The effects of replacing `key`'s state in every database with `snap`
/// (the write-back of a command run by copy, on a shard that cannot log
/// the commands that made it): per database, `RESTORE … ABSTTL
/// REPLACE` of the new value, or `DEL` where the key goes. A list that only
/// lost or gained elements at one end (LMOVE, RPOPLPUSH, BLMOVE and LMPOP
/// between shards) is the pop or the push instead (`list_change`), so that
/// moving one element logs one element, not both lists.
pub fn import_effects(
    shard: &mut crate::shard::Shard,
    effects: &mut Effects,
    key: &[u8],
    snap: &kevy_store::Snapshot,
) {
    for db in 0..shard.store.ndbs() {
        let new = snap.entries.iter().find(|e| e.db as usize == db);
        if let Some(e) = new {
            let mut db_ref = shard.store.db(db);
            let old = db_ref.peek(key);
            let old_ttl = old.and_then(|o| o.expire_at());
            if let (kevy_store::Value::List(l), true) = (&e.value, old_ttl == e.expire_at) {
                let old_list = match old.map(|o| &o.value) {
                    None => Some(None),
                    Some(kevy_store::Value::List(o)) => Some(Some(&**o)),
                    Some(_) => None,
                };
                if let Some(old_list) = old_list {
                    if let Some(change) = list_change(key, old_list, l) {
                        if !change.is_empty() {
                            effects.emit(db as u32, change.iter().map(Vec::as_slice));
                        }
                        continue;
                    }
                }
            }
        }
        match new {
            Some(e) => {
                let payload = crate::families::dump::payload(&e.value);
                let at = e.expire_at.unwrap_or(0).to_string();
                effects.emit(
                    db as u32,
                    [
                        &b"RESTORE"[..],
                        key,
                        at.as_bytes(),
                        &payload,
                        b"ABSTTL",
                        b"REPLACE",
                    ]
                    .into_iter(),
                );
            }
            None if shard.store.db(db).contains(key) => {
                effects.emit(db as u32, [&b"DEL"[..], key].into_iter());
            }
            None => {}
        }
    }
}

/// The command that turns list `old` (`None`: no key) into `new` when
/// `new` is `old` with elements taken from one end (`LPOP`/`RPOP key n`)
/// or added at one end (`LPUSH`/`RPUSH key v…`); empty when they are
/// equal; `None` for any other change.
fn list_change(
    key: &[u8],
    old: Option<&kevy_store::list::List>,
    new: &kevy_store::list::List,
) -> Option<Vec<Vec<u8>>> {
    let (lo, ln) = (old.map_or(0, kevy_store::list::List::len), new.len());
    let argv = |name: &[u8], rest: &mut dyn Iterator<Item = &[u8]>| {
        let mut v = vec![name.to_vec(), key.to_vec()];
        v.extend(rest.map(<[u8]>::to_vec));
        Some(v)
    };
    let Some(old) = old else {
        return argv(b"RPUSH", &mut new.iter());
    };
    if ln < lo {
        let k = (lo - ln).to_string();
        if new.iter().eq(old.range((lo - ln) as i64, -1)) {
            return argv(b"LPOP", &mut std::iter::once(k.as_bytes()));
        }
        if new.iter().eq(old.range(0, ln as i64 - 1)) {
            return argv(b"RPOP", &mut std::iter::once(k.as_bytes()));
        }
        return None;
    }
    let k = ln - lo;
    if k == 0 {
        return new.iter().eq(old.iter()).then(Vec::new);
    }
    if new.range(k as i64, -1).eq(old.iter()) {
        // LPUSH puts each argument at the head in turn: the new head last.
        return argv(
            b"LPUSH",
            &mut new
                .range(0, k as i64 - 1)
                .collect::<Vec<_>>()
                .into_iter()
                .rev(),
        );
    }
    if new.range(0, lo as i64 - 1).eq(old.iter()) {
        return argv(b"RPUSH", &mut new.range(lo as i64, -1));
    }
    None
}

impl Ctx<'_> {
    /// Whether effects are being collected: a command with a stated effect
    /// builds its arguments only then.
    #[inline]
    pub fn propagating(&self) -> bool {
        self.shard.prop_attached
    }

    /// States this command's effect (one call per effect, in order) instead
    /// of the command as sent. Does nothing while no consumer is attached.
    pub fn propagate(&mut self, argv: &[&[u8]]) {
        let db = self.db as u32;
        if let Some(p) = self.shard.store.observer_mut::<Prop>() {
            p.push(db, argv);
            p.stated = true;
        }
    }

    /// States the effect of setting `key` to expire at `when` (absolute
    /// ms): `DEL` when that time has passed (the key is gone), else
    /// `PEXPIREAT`.
    pub fn propagate_expire_at(&mut self, key: &[u8], when: i64) {
        if when <= self.shard.store.now() as i64 {
            self.propagate(&[b"DEL", key]);
        } else {
            self.propagate(&[b"PEXPIREAT", key, when.to_string().as_bytes()]);
        }
    }

    /// States that this command's effect is nothing (it changed nothing a
    /// replay must repeat), overriding the default.
    pub fn propagate_nothing(&mut self) {
        if let Some(p) = self.shard.store.observer_mut::<Prop>() {
            p.stated = true;
        }
    }
}

#[cfg(test)]
mod tests {
    //! A replay of the effects gives the store the commands made: run
    //! random commands (with the clock moving, keys expiring lazily and in
    //! the active cycle, SPOP choosing at random), then replay what they
    //! recorded on an empty shard whose clock never moves (replay expires
    //! nothing by itself), and compare every database at the same moment.

    use crate::server::{Config, Server};
    use crate::service::Kevy;
    use crate::shard::Shard;
    use kevy_resp::OwnedArgs;
    use kevy_rt::{ClientCtx, Effects, Service, Sink};
    use proptest::prelude::*;
    use std::sync::Arc;

    const KEYS: [&str; 4] = ["a", "b", "c", "{a}d"];

    struct Node {
        kevy: Kevy,
        shard: Shard,
        client: ClientCtx,
        effects: Effects,
    }

    impl Node {
        fn new(record: bool) -> Node {
            let kevy = Kevy::new(Arc::new(Server::new(Config {
                bind: "127.0.0.1".into(),
                port: 7777,
                shards: 1,
            })));
            let mut effects = Effects::default();
            effects.set_enabled(record);
            let addr = "127.0.0.1:6379".parse().unwrap();
            Node {
                kevy,
                shard: Shard::new(0, 1),
                client: ClientCtx {
                    id: 1,
                    db: 0,
                    resp3: false,
                    home: 0,
                    peer: addr,
                    local: addr,
                    created_ms: 0,
                    subscribed: false,
                    unix: false,
                    tracking: Default::default(),
                    checked: false,
                    no_touch: false,
                },
                effects,
            }
        }

        fn run(&mut self, argv: &[Vec<u8>]) -> Vec<u8> {
            let owned = OwnedArgs::from_slices(argv);
            let args = owned.args();
            let mut out = Vec::new();
            if argv[0].eq_ignore_ascii_case(b"select") {
                self.client.db = std::str::from_utf8(&argv[1]).unwrap().parse().unwrap();
                return out;
            }
            let (cmd, _) = self.kevy.route(args, &self.client, 1).expect("known");
            let mut sink = Sink {
                out: &mut out,
                effects: &mut self.effects,
                part: 0,
                may_block: false,
                locked: false,
                block: None,
                may_escalate: false,
                escalate: false,
            };
            self.kevy
                .exec(&mut self.shard, &self.client, cmd, args, &mut sink);
            out
        }

        fn run_str(&mut self, line: &[String]) -> Vec<u8> {
            let argv: Vec<Vec<u8>> = line.iter().map(|a| a.as_bytes().to_vec()).collect();
            self.run(&argv)
        }

        fn tick(&mut self) {
            self.shard
                .store
                .active_expire_cycle(std::time::Instant::now() + std::time::Duration::from_secs(1));
            if self.shard.prop_attached {
                self.shard.prop().drain_into(&mut self.effects);
            }
        }

        /// Every database as text: keys, types, values, absolute TTLs.
        fn dump(&mut self) -> String {
            let mut s = String::new();
            for db in 0..3 {
                self.client.db = db;
                let keys = self.run_str(&["KEYS".into(), "*".into()]);
                let mut names: Vec<String> = KEYS
                    .iter()
                    .filter(|k| {
                        let needle = format!("\r\n{k}\r\n");
                        String::from_utf8_lossy(&keys).contains(&needle)
                    })
                    .map(|k| k.to_string())
                    .collect();
                names.sort();
                for k in names {
                    let ty = self.run_str(&["TYPE".into(), k.clone()]);
                    let read: Vec<&str> = match &ty[..] {
                        b"+string\r\n" => vec!["GET"],
                        b"+set\r\n" => vec!["SORT", "ALPHA"],
                        // A hashtable's order is its own: fields by name,
                        // then how many there are.
                        b"+hash\r\n" => vec!["HMGET", "m0", "m1", "m2", "m3", "m4"],
                        b"+list\r\n" => vec!["LRANGE", "0", "-1"],
                        b"+zset\r\n" => vec!["ZRANGE", "0", "-1", "WITHSCORES"],
                        _ => vec!["TYPE"],
                    };
                    let mut argv = vec![read[0].to_string(), k.clone()];
                    argv.extend(read[1..].iter().map(|a| a.to_string()));
                    let mut v = self.run_str(&argv);
                    if ty == b"+hash\r\n" {
                        v.extend(self.run_str(&["HLEN".into(), k.clone()]));
                        // Every field's TTL too.
                        let mut argv = vec!["HPEXPIRETIME".into(), k.clone(), "FIELDS".into()];
                        argv.push("5".into());
                        argv.extend((0..5).map(|n| format!("m{n}")));
                        v.extend(self.run_str(&argv));
                    }
                    let t = self.run_str(&["PEXPIRETIME".into(), k.clone()]);
                    s += &format!(
                        "db{db} {k} {} {} {}\n",
                        String::from_utf8_lossy(&ty).trim(),
                        String::from_utf8_lossy(&v).replace("\r\n", " "),
                        String::from_utf8_lossy(&t).trim()
                    );
                }
            }
            self.client.db = 0;
            s
        }
    }

    /// Splits a stream of RESP arrays of bulk strings.
    fn parse(mut b: &[u8]) -> Vec<Vec<Vec<u8>>> {
        fn line<'a>(b: &mut &'a [u8]) -> &'a [u8] {
            let i = b.windows(2).position(|w| w == b"\r\n").unwrap();
            let l = &b[..i];
            *b = &b[i + 2..];
            l
        }
        let mut cmds = Vec::new();
        while !b.is_empty() {
            let n: usize = std::str::from_utf8(&line(&mut b)[1..])
                .unwrap()
                .parse()
                .unwrap();
            let mut argv = Vec::new();
            for _ in 0..n {
                let len: usize = std::str::from_utf8(&line(&mut b)[1..])
                    .unwrap()
                    .parse()
                    .unwrap();
                argv.push(b[..len].to_vec());
                b = &b[len + 2..];
            }
            cmds.push(argv);
        }
        cmds
    }

    fn key() -> impl Strategy<Value = String> {
        prop::sample::select(&KEYS[..]).prop_map(str::to_string)
    }

    fn small() -> impl Strategy<Value = String> {
        (0..5u8).prop_map(|n| format!("m{n}"))
    }

    /// One step: a command line, or a clock move (`+ms`), or an active
    /// expiry cycle (`tick`).
    fn step() -> impl Strategy<Value = Vec<String>> {
        let secs = 1..4i64;
        let v = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        prop_oneof![
            (0..3000u64).prop_map(|ms| vec![format!("+{ms}")]),
            Just(v(&["tick"])),
            (0..3u8).prop_map(|d| vec!["SELECT".into(), d.to_string()]),
            (
                key(),
                small(),
                prop::sample::select(vec!["", "EX", "PX", "EXAT", "PXAT", "KEEPTTL"]),
                prop::sample::select(vec!["", "NX", "XX", "GET"]),
                secs.clone()
            )
                .prop_map(|(k, val, ex, cond, s)| {
                    let mut a = vec!["SET".into(), k, val];
                    match ex {
                        "" => {}
                        "KEEPTTL" => a.push(ex.into()),
                        "EX" => a.extend([ex.into(), s.to_string()]),
                        "PX" => a.extend([ex.into(), (s * 700).to_string()]),
                        // Absolute times around the test clock (1e6 ms).
                        "EXAT" => a.extend([ex.into(), (1000 + s * 2).to_string()]),
                        _ => a.extend([ex.into(), (1_000_000 + s * 1500).to_string()]),
                    }
                    if !cond.is_empty() {
                        a.push(cond.into());
                    }
                    a
                }),
            (key(), secs.clone()).prop_map(|(k, s)| vec![
                "SETEX".into(),
                k,
                s.to_string(),
                "x".into()
            ]),
            (key(), secs.clone()).prop_map(|(k, s)| vec![
                "PSETEX".into(),
                k,
                (s * 900).to_string(),
                "y".into()
            ]),
            (
                key(),
                prop::sample::select(vec!["", "EX", "PXAT", "EXAT", "PERSIST"]),
                secs.clone()
            )
                .prop_map(|(k, o, s)| {
                    let mut a = vec!["GETEX".into(), k];
                    match o {
                        "" => {}
                        "PERSIST" => a.push(o.into()),
                        "EX" => a.extend([o.into(), s.to_string()]),
                        // Some in the past: GETEX deletes the key.
                        "PXAT" => a.extend([o.into(), (999_000 + s * 2000).to_string()]),
                        _ => a.extend([o.into(), (999 + s).to_string()]),
                    }
                    a
                }),
            key().prop_map(|k| vec!["GETDEL".into(), k]),
            key().prop_map(|k| vec!["GET".into(), k]),
            key().prop_map(|k| vec!["INCRBYFLOAT".into(), k, "1.5".into()]),
            key().prop_map(|k| vec!["INCR".into(), k]),
            (key(), small()).prop_map(|(k, m)| vec!["APPEND".into(), k, m]),
            (
                key(),
                prop::sample::select(vec!["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]),
                -1..4i64,
                prop::sample::select(vec!["", "NX", "XX", "GT", "LT"])
            )
                .prop_map(|(k, c, n, f)| {
                    let t = match c {
                        "EXPIRE" => n.to_string(),
                        "PEXPIRE" => (n * 800).to_string(),
                        "EXPIREAT" => (999 + n * 2).to_string(),
                        _ => (999_000 + n * 1700).to_string(),
                    };
                    let mut a = vec![c.to_string(), k, t];
                    if !f.is_empty() {
                        a.push(f.into());
                    }
                    a
                }),
            key().prop_map(|k| vec!["PERSIST".into(), k]),
            key().prop_map(|k| vec!["DEL".into(), k]),
            (key(), small(), small()).prop_map(|(k, a, b)| vec!["SADD".into(), k, a, b]),
            (key(), prop::option::of(0..4u8)).prop_map(|(k, n)| {
                let mut a = vec!["SPOP".into(), k];
                a.extend(n.map(|n| n.to_string()));
                a
            }),
            (key(), small()).prop_map(|(k, f)| vec!["HSET".into(), k, f, "1".into()]),
            // Hash field expiry: relative and absolute times around the
            // test clock, conditions, reads that find fields expired.
            (
                key(),
                prop::sample::select(vec!["HEXPIRE", "HPEXPIRE", "HEXPIREAT", "HPEXPIREAT"]),
                -1..4i64,
                prop::sample::select(vec!["", "NX", "XX", "GT", "LT"]),
                small(),
                small()
            )
                .prop_map(|(k, c, n, cond, f, g)| {
                    let t = match c {
                        "HEXPIRE" => n.max(0).to_string(),
                        "HPEXPIRE" => (n.max(0) * 800).to_string(),
                        "HEXPIREAT" => (999 + n * 2).to_string(),
                        _ => (999_000 + n * 1700).to_string(),
                    };
                    let mut a = vec![c.to_string(), k, t];
                    if !cond.is_empty() {
                        a.push(cond.into());
                    }
                    a.extend(["FIELDS".into(), "2".into(), f, g]);
                    a
                }),
            (key(), small()).prop_map(|(k, f)| vec![
                "HPERSIST".into(),
                k,
                "FIELDS".into(),
                "1".into(),
                f
            ]),
            (
                key(),
                small(),
                prop::sample::select(vec!["", "PX", "PXAT", "PERSIST"]),
                0..4i64
            )
                .prop_map(|(k, f, o, n)| {
                    let mut a = vec!["HGETEX".into(), k];
                    match o {
                        "" => {}
                        "PERSIST" => a.push(o.into()),
                        "PX" => a.extend([o.into(), (n * 700).to_string()]),
                        _ => a.extend([o.into(), (999_000 + n * 1500).to_string()]),
                    }
                    a.extend(["FIELDS".into(), "1".into(), f]);
                    a
                }),
            (
                key(),
                small(),
                prop::sample::select(vec!["", "FNX", "FXX"]),
                prop::sample::select(vec!["", "EX", "PXAT", "KEEPTTL"]),
                0..4i64
            )
                .prop_map(|(k, f, cond, o, n)| {
                    let mut a = vec!["HSETEX".into(), k];
                    if !cond.is_empty() {
                        a.push(cond.into());
                    }
                    match o {
                        "" => {}
                        "KEEPTTL" => a.push(o.into()),
                        "EX" => a.extend([o.into(), n.to_string()]),
                        _ => a.extend([o.into(), (999_000 + n * 1500).to_string()]),
                    }
                    a.extend(["FIELDS".into(), "1".into(), f, "v".into()]);
                    a
                }),
            (key(), small()).prop_map(|(k, f)| vec![
                "HGETDEL".into(),
                k,
                "FIELDS".into(),
                "1".into(),
                f
            ]),
            (key(), small()).prop_map(|(k, f)| vec!["HGET".into(), k, f]),
            (key(), small()).prop_map(|(k, f)| vec!["HINCRBY".into(), k, f, "1".into()]),
            (key(), small()).prop_map(|(k, f)| vec!["HINCRBYFLOAT".into(), k, f, "0.25".into()]),
            (key(), small()).prop_map(|(k, m)| vec!["RPUSH".into(), k, m]),
            key().prop_map(|k| vec!["LPOP".into(), k]),
            (key(), small()).prop_map(|(k, m)| vec!["ZINCRBY".into(), k, "2".into(), m]),
            (key(), key()).prop_map(|(a, b)| vec!["RENAME".into(), a, b]),
            (key(), 0..3u8).prop_map(|(k, d)| vec!["MOVE".into(), k, d.to_string()]),
            (key(), key()).prop_map(|(a, b)| vec!["COPY".into(), a, b, "REPLACE".into()]),
            Just(v(&["FLUSHDB"])),
            (0..3u8, 0..3u8).prop_map(|(a, b)| vec!["SWAPDB".into(), a.to_string(), b.to_string()]),
        ]
    }

    fn replay_matches(steps: &[Vec<String>]) -> (String, String) {
        let mut live = Node::new(true);
        live.shard.store.set_now(1_000_000);
        for s in steps {
            if let Some(ms) = s[0].strip_prefix('+') {
                let now = live.shard.store.now();
                live.shard.store.set_now(now + ms.parse::<u64>().unwrap());
            } else if s[0] == "tick" {
                live.tick();
            } else {
                live.run_str(s);
            }
        }
        let (stream, _) = live.effects.take();
        let mut replay = Node::new(false);
        replay.shard.store.set_now(0);
        for argv in parse(&stream) {
            replay.run(&argv);
        }
        let now = live.shard.store.now();
        replay.shard.store.set_now(now);
        (replay.dump(), live.dump())
    }

    fn line(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn spop_replays_what_it_took() {
        let steps: Vec<Vec<String>> = [
            "SADD a m0 m1 m2 m3 m4 m5 m6",
            "SPOP a",
            "SPOP a 2",
            "SPOP a",
        ]
        .iter()
        .map(|l| line(l))
        .collect();
        for _ in 0..20 {
            let (replayed, live) = replay_matches(&steps);
            assert_eq!(replayed, live);
        }
    }

    /// The effects of `lines` run at clock 1,000,000 ms, one per line as
    /// space-separated words.
    fn effects_of(lines: &[&str]) -> Vec<String> {
        let mut live = Node::new(true);
        live.shard.store.set_now(1_000_000);
        for l in lines {
            if let Some(ms) = l.strip_prefix('+') {
                let now = live.shard.store.now();
                live.shard.store.set_now(now + ms.parse::<u64>().unwrap());
            } else {
                live.run_str(&line(l));
            }
        }
        let (stream, _) = live.effects.take();
        parse(&stream)
            .iter()
            .map(|argv| {
                argv.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn effects_take_redis_propagated_forms() {
        assert_eq!(
            effects_of(&[
                "SET k v EX 10 NX",
                "SETEX k2 5 v",
                "PSETEX k3 1500 v",
                "SET k4 v PXAT 2000000 GET",
                "SET plain v",
                "EXPIRE plain 100 NX",
                "PEXPIREAT plain 5",
                "GETEX k PERSIST",
                "GETEX k EX 3",
                "GETDEL k",
                "INCRBYFLOAT f 1.5",
                "HINCRBYFLOAT h x 0.5",
                "SADD s a",
                "SPOP s",
                "SADD s2 a b c",
                "SPOP s2 5",
            ]),
            [
                "SELECT 0",
                "SET k v PXAT 1010000",
                "SET k2 v PXAT 1005000",
                "SET k3 v PXAT 1001500",
                "SET k4 v PXAT 2000000",
                "SET plain v",
                "PEXPIREAT plain 1100000",
                "DEL plain",
                "PERSIST k",
                "PEXPIREAT k 1003000",
                "DEL k",
                "SET f 1.5 KEEPTTL",
                "HSETEX h KEEPTTL FIELDS 1 x 0.5",
                "SADD s a",
                "SREM s a",
                "SADD s2 a b c",
                "DEL s2",
            ]
        );
    }

    #[test]
    fn hash_field_expiry_effects_are_absolute() {
        assert_eq!(
            effects_of(&[
                "HSET h a 1 b 2 c 3",
                "HEXPIRE h 10 FIELDS 3 a b zz",
                "HEXPIRE h 10 NX FIELDS 1 a",
                "HPEXPIRE h 0 FIELDS 2 b c",
                "HGETEX h PX 500 FIELDS 2 a zz",
                "HGETEX h PERSIST FIELDS 1 a",
                "HGETEX h FIELDS 1 a",
                "HSETEX h EX 5 FIELDS 1 d 4",
                "HSETEX h FNX EX 5 FIELDS 1 d 4",
                "HSETEX h KEEPTTL FIELDS 1 d 5",
                "HSETEX h PXAT 1 FIELDS 1 e 5",
                "HPERSIST h FIELDS 1 zz",
                "+5001",
                "HGETDEL h FIELDS 2 a d",
            ]),
            [
                "SELECT 0",
                "HSET h a 1 b 2 c 3",
                "HPEXPIREAT h 1010000 FIELDS 2 a b",
                "HDEL h b",
                "HDEL h c",
                "HPEXPIREAT h 1000500 FIELDS 1 a",
                "HPERSIST h FIELDS 1 a",
                "HSETEX h PXAT 1005000 FIELDS 1 d 4",
                "HSETEX h KEEPTTL FIELDS 1 d 5",
                "HDEL h e",
                "HDEL h d",
                "HDEL h a",
            ]
        );
    }

    #[test]
    fn geo_writes_take_redis_propagated_forms() {
        // Checked against redis-server 7.0's AOF: GEOADD is the ZADD it
        // runs (its options as written), the STORE forms are themselves,
        // and a write that changes nothing is not logged.
        assert_eq!(
            effects_of(&[
                "GEOADD g CH nx 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
                "GEOADD g 13.361389 38.115556 Palermo",
                "GEOADD g XX 1 1 nomember",
                "GEORADIUS g 15 37 200 km STORE d",
                "GEORADIUS g 15 37 1 km STORE nokey",
                "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 1 km",
                "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 1 km",
            ]),
            [
                "SELECT 0",
                "zadd g CH nx 3479099956230698 Palermo 3479447370796909 Catania",
                "GEORADIUS g 15 37 200 km STORE d",
                "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 1 km",
            ]
        );
    }

    #[test]
    fn an_expired_key_is_deleted_before_the_command_that_found_it() {
        assert_eq!(
            effects_of(&[
                "SET k v PX 100",
                "+200",
                "APPEND k x",
                "SET n 1 PX 10",
                "+20",
                "GET n"
            ]),
            [
                "SELECT 0",
                "SET k v PXAT 1000100",
                "DEL k",
                "APPEND k x",
                "SET n 1 PXAT 1000210",
                "DEL n",
            ]
        );
    }

    #[test]
    fn nothing_is_recorded_for_writes_that_change_nothing() {
        assert_eq!(
            effects_of(&[
                "SET k v",
                "SET k w NX",
                "EXPIRE missing 10",
                "PERSIST k",
                "GETEX k"
            ]),
            ["SELECT 0", "SET k v"]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn replaying_effects_rebuilds_the_store(steps in prop::collection::vec(step(), 1..60)) {
            let (replayed, live) = replay_matches(&steps);
            prop_assert_eq!(replayed, live);
        }
    }

    /// A node holding list `a` with `elems` (none: no key), at `ttl`.
    fn holding(elems: &Option<Vec<String>>, ttl: bool, record: bool) -> Node {
        let mut n = Node::new(record);
        n.shard.store.set_now(1_000_000);
        if let Some(elems) = elems {
            let mut push = line("RPUSH a");
            push.extend(elems.iter().cloned());
            n.run_str(&push);
            if ttl {
                n.run_str(&line("PEXPIREAT a 5000000"));
            }
        }
        n.effects.take();
        n
    }

    /// A list and what a command run by copy may turn it into.
    fn list_change_case() -> impl Strategy<Value = (Option<Vec<String>>, Option<Vec<String>>, bool)>
    {
        let elems = || prop::collection::vec((0..6u8).prop_map(|i| format!("e{i}")), 0..8);
        (
            prop::option::of(elems()),
            elems(),
            0..6u8,
            1..4usize,
            any::<bool>(),
        )
            .prop_map(|(old, fresh, how, k, ttl)| {
                let old = old.filter(|o| !o.is_empty());
                let base = old.clone().unwrap_or_default();
                let k = k.min(base.len().max(1));
                let new: Vec<String> = match how {
                    0 => base.iter().skip(k).cloned().collect(),
                    1 => base
                        .iter()
                        .take(base.len().saturating_sub(k))
                        .cloned()
                        .collect(),
                    2 => fresh.iter().take(k).chain(&base).cloned().collect(),
                    3 => base.iter().chain(fresh.iter().take(k)).cloned().collect(),
                    4 => base.clone(),
                    _ => fresh,
                };
                (old, (!new.is_empty()).then_some(new), ttl)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// The write-back of a list logs what replays to the list written
        /// back, and only the elements that moved when it changed at an end.
        #[test]
        fn a_written_back_list_replays_and_logs_only_what_moved(
            (old, new, ttl) in list_change_case()
        ) {
            // The new state, exported from a node holding it with the same
            // expiry as the old one.
            let mut source = holding(&new, ttl && old.is_some(), false);
            let snap = source.shard.store.export(b"a");
            let mut live = holding(&old, ttl, true);
            super::import_effects(&mut live.shard, &mut live.effects, b"a", &snap);
            live.shard.store.import(b"a", snap);
            let (stream, _) = live.effects.take();
            let logged = parse(&stream);
            let mut replay = holding(&old, ttl, false);
            for argv in &logged {
                replay.run(argv);
            }
            prop_assert_eq!(replay.dump(), live.dump());
            let ends = match (&old, &new) {
                (_, None) => false,
                (None, Some(_)) => !ttl,
                (Some(o), Some(n)) => n.ends_with(o) || n.starts_with(o) || o.ends_with(n) || o.starts_with(n),
            };
            if ends {
                let moved = old.as_ref().map_or(0, Vec::len).abs_diff(new.as_ref().map_or(0, Vec::len));
                for argv in &logged {
                    prop_assert!(argv[0] != b"RESTORE", "{:?} -> {:?}", old, new);
                    prop_assert!(argv.len() <= 2 + moved, "{:?} -> {:?}: {:?}", old, new, argv);
                }
            }
        }
    }
}
