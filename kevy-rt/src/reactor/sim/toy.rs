//! A toy service for the simulation: a string keyspace per shard, with
//! just enough commands to reach every way the runtime routes one.
//!
//! - `GET k`, `SET k v`, `INCR k`: one key.
//! - `MGET k…` (gather), `MSET k v…` (all OK), `DEL k…` (sum): keys that
//!   split per shard.
//! - `RENAME src dst`: keys that must be served together (`Fold::One`),
//!   run by copy when they live on different shards.
//! - `XFER src dst`: moves 1 from the number at `src` to the one at
//!   `dst` (`Fold::One`: by copy across shards).
//! - `ESC a b c`: a script's stand-in; declares `a` and `b` and adds 1 to
//!   each, then to `c` too, which it did not declare: run by copy, where
//!   `c` is not reachable (any `c` but `-`), it asks to run again over the
//!   whole keyspace (`Sink::escalate`) and leaves its writes to be taken
//!   back, as a script on a scratch shard does.
//! - `DBSIZE`: the whole keyspace (`Route::All`, summed).
//! - `COPYREF src dst`: copies the value of the key that `src`'s value
//!   names into `dst` (deleting `dst` when there is none): keys known only
//!   once read (`Route::All` with `Fold::One`), run by copy.
//! - `KEYCOUNT`: how many keys every shard holds, counted on a copy of
//!   their names (`Route::All` with `Fold::One`, `copy_names`).
//! - `PUSH k v…`, `POP k`: a list, kept as its elements joined by commas.
//! - `BPOP k… timeout` (the first element of the first non-empty list, as
//!   `[k, v]`) and `BMOVE src dst timeout` (moves the first element of
//!   `src` to the end of `dst`): blocking commands, waiting on their lists
//!   (`src` only for BMOVE) when they find nothing; `timeout` in ms.
//! - `PING`, `SELECT db`: connection commands; `PUBLISH ch m`,
//!   `SUBSCRIBE ch…` and `PSUBSCRIBE pattern…`: pub/sub, run by the
//!   runtime.
//! - `MULTI`, `EXEC`, `DISCARD`, `WATCH k…`, `UNWATCH`: transaction control.
//!
//! Every write bumps the key's version (what WATCH compares), and a scratch
//! shard remembers the keys it wrote (what `take_dirty` returns).

use crate::exec::Sink;
use crate::service::{
    ClientCtx, ClientInfo, ConnAction, Fold, InMulti, PubSubOp, Refused, Route, Service, TxOp,
};
use kevy_resp::{Args, OwnedArgs, Reply};
use std::collections::HashMap;

pub(crate) struct Toy;

/// Keys with their states before an attempt's first write to each.
type PreImages = Vec<(Vec<u8>, Option<Vec<u8>>)>;

#[derive(Default)]
pub(crate) struct ToyShard {
    pub map: HashMap<Vec<u8>, Vec<u8>>,
    /// Version of each key ever written; a global counter per shard.
    versions: HashMap<Vec<u8>, u64>,
    clock: u64,
    /// Per client: the watched keys and their versions at WATCH.
    watches: HashMap<u64, Vec<(Vec<u8>, u64)>>,
    /// A scratch shard for a command run by copy.
    scratch: bool,
    dirty: Vec<Vec<u8>>,
    /// A scratch shard's command asked for every shard's key names, and
    /// whether they were asked for.
    wants_names: bool,
    names: bool,
    /// During an attempt (`begin_attempt`): each written key's state
    /// before its first write.
    journal: Option<PreImages>,
    /// MGET calls answered with another's reply (shared reads).
    pub shared: u64,
}

impl ToyShard {
    /// The value of `key`, as text.
    pub fn get(&self, key: &str) -> Option<String> {
        self.map
            .get(key.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn version(&self, key: &[u8]) -> u64 {
        self.versions.get(key).copied().unwrap_or(0)
    }

    fn touched(&mut self, key: &[u8]) {
        self.clock += 1;
        self.versions.insert(key.to_vec(), self.clock);
        if self.scratch {
            self.dirty.push(key.to_vec());
        }
    }

    /// Takes the first element of list `key`, deleting an emptied list.
    fn pop(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let list = self.map.get(key)?.clone();
        let (head, rest) = match list.iter().position(|&b| b == b',') {
            Some(at) => (list[..at].to_vec(), Some(list[at + 1..].to_vec())),
            None => (list, None),
        };
        self.set(key, rest);
        Some(head)
    }

    /// Puts `elem` back at the head of list `key`, where `pop` takes.
    fn unpop(&mut self, key: &[u8], elem: &[u8]) {
        let mut list = elem.to_vec();
        if let Some(rest) = self.map.get(key) {
            list.push(b',');
            list.extend_from_slice(rest);
        }
        self.set(key, Some(list));
    }

    /// Appends `elem` to list `key`.
    fn push(&mut self, key: &[u8], elem: &[u8]) {
        let mut list = self.map.get(key).cloned().unwrap_or_default();
        if !list.is_empty() {
            list.push(b',');
        }
        list.extend_from_slice(elem);
        self.set(key, Some(list));
    }

    fn set(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        if let Some(j) = self.journal.as_mut() {
            if !j.iter().any(|(k, _)| k == key) {
                j.push((key.to_vec(), self.map.get(key).cloned()));
            }
        }
        match value {
            Some(v) => {
                self.map.insert(key.to_vec(), v);
            }
            None => {
                self.map.remove(key);
            }
        }
        self.touched(key);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmd {
    Get,
    Set,
    Incr,
    Mget,
    Mset,
    Del,
    Rename,
    Xfer,
    Esc,
    Dbsize,
    CopyRef,
    KeyCount,
    Push,
    Unpop,
    Pop,
    BPop,
    /// BPOP served ahead: an owner pops for a waiter of another shard at
    /// once, and its home puts the element back when the waiter is gone.
    QPop,
    BMove,
    Publish,
    Subscribe,
    Ping,
    Select,
    Tx(TxOp),
}

const fn keys(first: u32, last: i32, step: u32, fold: Fold) -> Route {
    Route::Keys {
        first,
        last,
        step,
        extra: 0,
        fold,
    }
}

/// The command table: the command, its arity (negative: at least), and
/// where it runs.
fn lookup(name: &[u8]) -> Option<(Cmd, i32, Route)> {
    let name = name.to_ascii_uppercase();
    Some(match &name[..] {
        b"GET" => (Cmd::Get, 2, keys(1, 1, 1, Fold::One)),
        b"SET" => (Cmd::Set, 3, keys(1, 1, 1, Fold::One)),
        b"INCR" => (Cmd::Incr, 2, keys(1, 1, 1, Fold::One)),
        b"MGET" => (Cmd::Mget, -2, keys(1, -1, 1, Fold::Gather)),
        b"MSET" => (Cmd::Mset, -3, keys(1, -1, 2, Fold::AllOk)),
        b"DEL" => (Cmd::Del, -2, keys(1, -1, 1, Fold::Sum)),
        b"RENAME" => (Cmd::Rename, 3, keys(1, 2, 1, Fold::One)),
        b"XFER" => (Cmd::Xfer, 3, keys(1, 2, 1, Fold::One)),
        b"ESC" => (Cmd::Esc, 4, keys(1, 2, 1, Fold::One)),
        b"DBSIZE" => (Cmd::Dbsize, 1, Route::All(Fold::Sum)),
        b"COPYREF" => (Cmd::CopyRef, 3, Route::All(Fold::One)),
        b"KEYCOUNT" => (Cmd::KeyCount, 1, Route::All(Fold::One)),
        b"PUSH" => (Cmd::Push, -3, keys(1, 1, 1, Fold::One)),
        b"UNPOP" => (Cmd::Unpop, -3, keys(1, 1, 1, Fold::One)),
        b"POP" => (Cmd::Pop, 2, keys(1, 1, 1, Fold::One)),
        b"BPOP" => (Cmd::BPop, -3, keys(1, -2, 1, Fold::One)),
        b"QPOP" => (Cmd::QPop, -3, keys(1, -2, 1, Fold::One)),
        b"BMOVE" => (Cmd::BMove, 4, keys(1, 2, 1, Fold::One)),
        b"PUBLISH" => (Cmd::Publish, 3, Route::PubSub(PubSubOp::Publish)),
        b"SUBSCRIBE" => (Cmd::Subscribe, -2, Route::PubSub(PubSubOp::Subscribe)),
        b"PSUBSCRIBE" => (Cmd::Subscribe, -2, Route::PubSub(PubSubOp::PSubscribe)),
        b"PING" => (Cmd::Ping, -1, Route::Conn),
        b"SELECT" => (Cmd::Select, 2, Route::Conn),
        b"MULTI" => (Cmd::Tx(TxOp::Multi), 1, Route::Tx(TxOp::Multi)),
        b"EXEC" => (Cmd::Tx(TxOp::Exec), 1, Route::Tx(TxOp::Exec)),
        b"DISCARD" => (Cmd::Tx(TxOp::Discard), 1, Route::Tx(TxOp::Discard)),
        b"WATCH" => (Cmd::Tx(TxOp::Watch), -2, Route::Tx(TxOp::Watch)),
        b"UNWATCH" => (Cmd::Tx(TxOp::Unwatch), 1, Route::Tx(TxOp::Unwatch)),
        _ => return None,
    })
}

fn checked(args: Args<'_>) -> Result<(Cmd, Route), Refused> {
    let name = args.get(0);
    let Some((cmd, arity, route)) = lookup(name) else {
        return Err(Refused {
            tx: None,
            msg: b"ERR unknown command".to_vec(),
        });
    };
    let n = args.len() as i32;
    if (arity >= 0 && n != arity) || (arity < 0 && n < -arity) {
        return Err(Refused {
            tx: matches!(cmd, Cmd::Tx(TxOp::Exec)).then_some(TxOp::Exec),
            msg: b"ERR wrong number of arguments".to_vec(),
        });
    }
    Ok((cmd, route))
}

impl Service for Toy {
    type Shard = ToyShard;
    type Session = ();
    type Cmd = Cmd;
    type Snapshot = Option<Vec<u8>>;

    fn new_shard(&self, _id: usize, _nshards: usize) -> ToyShard {
        ToyShard::default()
    }

    fn route(
        &self,
        args: Args<'_>,
        _client: &ClientCtx,
        _nshards: usize,
    ) -> Result<(Cmd, Route), Vec<u8>> {
        checked(args).map_err(|r| r.msg)
    }

    fn effect_route(&self, args: Args<'_>) -> Option<Route> {
        checked(args).ok().map(|(_, route)| route)
    }

    fn resolve(&self, args: Args<'_>) -> Result<(Cmd, InMulti), Refused> {
        let (cmd, _) = checked(args)?;
        let in_multi = match cmd {
            Cmd::Tx(TxOp::Unwatch) => InMulti::Queue,
            Cmd::Tx(_) => InMulti::Run,
            _ => InMulti::Queue,
        };
        Ok((cmd, in_multi))
    }

    fn exec(
        &self,
        shard: &mut ToyShard,
        client: &ClientCtx,
        cmd: Cmd,
        args: Args<'_>,
        sink: &mut Sink<'_>,
    ) {
        let mut r = Reply::new(sink.out, client.resp3);
        match cmd {
            Cmd::Get => match shard.map.get(args.get(1)) {
                Some(v) => r.bulk(v),
                None => r.null(),
            },
            Cmd::Set => {
                shard.set(args.get(1), Some(args.get(2).to_vec()));
                r.ok();
            }
            Cmd::Incr => {
                let k = args.get(1);
                let old = shard.map.get(k).map_or(Some(0), |v| {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                });
                match old {
                    Some(n) => {
                        shard.set(k, Some((n + 1).to_string().into_bytes()));
                        r.int(n + 1);
                    }
                    None => r.error("ERR value is not an integer or out of range"),
                }
            }
            Cmd::Mget => {
                r.array(args.len() - 1);
                for k in args.iter().skip(1) {
                    match shard.map.get(k) {
                        Some(v) => r.bulk(v),
                        None => r.null(),
                    }
                }
            }
            Cmd::Mset => {
                if args.len().is_multiple_of(2) {
                    return r.error("ERR wrong number of arguments");
                }
                for i in (1..args.len()).step_by(2) {
                    shard.set(args.get(i), Some(args.get(i + 1).to_vec()));
                }
                r.ok();
            }
            Cmd::Del => {
                let mut n = 0;
                for k in args.iter().skip(1) {
                    if shard.map.contains_key(k) {
                        shard.set(k, None);
                        n += 1;
                    }
                }
                r.int(n);
            }
            Cmd::Rename => {
                let (src, dst) = (args.get(1), args.get(2));
                match shard.map.get(src).cloned() {
                    None => r.error("ERR no such key"),
                    Some(v) => {
                        shard.set(src, None);
                        shard.set(dst, Some(v));
                        r.ok();
                    }
                }
            }
            Cmd::Xfer => {
                let num = |v: Option<&Vec<u8>>| {
                    v.and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
                        .unwrap_or(0)
                };
                let (src, dst) = (args.get(1), args.get(2));
                let (a, b) = (num(shard.map.get(src)), num(shard.map.get(dst)));
                shard.set(src, Some((a - 1).to_string().into_bytes()));
                shard.set(dst, Some((b + 1).to_string().into_bytes()));
                r.int(b + 1);
            }
            Cmd::Esc => {
                let mut total = 0;
                for i in 1..=3 {
                    let k = args.get(i);
                    if i == 3 && k == b"-" {
                        break;
                    }
                    if i == 3 && shard.scratch && sink.may_escalate {
                        // Stops here; its writes stay for the runtime to
                        // take back, and nothing is recorded as written.
                        shard.dirty.clear();
                        sink.escalate = true;
                        return;
                    }
                    let n = shard
                        .map
                        .get(k)
                        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
                        .unwrap_or(0);
                    shard.set(k, Some((n + 1).to_string().into_bytes()));
                    total += n + 1;
                }
                r.int(total);
            }
            Cmd::Dbsize | Cmd::KeyCount => r.int(shard.map.len() as i64),
            Cmd::CopyRef => {
                let v = shard
                    .map
                    .get(args.get(1))
                    .and_then(|name| shard.map.get(name))
                    .cloned();
                r.int(i64::from(v.is_some()));
                shard.set(args.get(2), v);
            }
            Cmd::Push => {
                for v in args.iter().skip(2) {
                    shard.push(args.get(1), v);
                }
                r.ok();
            }
            Cmd::Unpop => {
                for v in args.iter().skip(2) {
                    shard.unpop(args.get(1), v);
                }
                r.ok();
            }
            Cmd::Pop => match shard.pop(args.get(1)) {
                Some(v) => r.bulk(&v),
                None => r.null(),
            },
            Cmd::BPop | Cmd::QPop => {
                let n = args.len();
                for k in args.iter().take(n - 1).skip(1) {
                    if let Some(v) = shard.pop(k) {
                        r.array(2);
                        r.bulk(k);
                        return r.bulk(&v);
                    }
                }
                if sink.may_block {
                    sink.block = Some(timeout(args.get(n - 1)));
                } else {
                    r.null_array();
                }
            }
            Cmd::BMove => match shard.pop(args.get(1)) {
                Some(v) => {
                    shard.push(args.get(2), &v);
                    r.bulk(&v);
                }
                None if sink.may_block => sink.block = Some(timeout(args.get(3))),
                None => r.null(),
            },
            Cmd::Ping | Cmd::Select | Cmd::Publish | Cmd::Subscribe | Cmd::Tx(_) => {
                r.error("ERR not a keyed command")
            }
        }
    }

    fn exec_clients(
        &self,
        _shard: &mut ToyShard,
        _client: &mut ClientCtx,
        _session: &mut (),
        _cmd: Cmd,
        _args: Args<'_>,
        _clients: &[ClientInfo],
        out: &mut Vec<u8>,
    ) -> crate::service::ClientsChosen {
        out.extend_from_slice(b"+OK\r\n");
        Default::default()
    }

    fn describe(&self, _session: &(), _last: Option<Cmd>, _info: &mut ClientInfo) {}

    fn reads_only(&self, cmd: Cmd) -> bool {
        matches!(cmd, Cmd::Get | Cmd::Mget | Cmd::Dbsize)
    }

    fn monitor_shows(&self, _cmd: Cmd) -> bool {
        false
    }

    fn subscribed_refusal(&self, _cmd: Cmd, _args: Args<'_>) -> Option<Vec<u8>> {
        None
    }

    fn closed(&self, _shard: &mut ToyShard, _client: &ClientCtx, _session: &mut ()) {}

    fn refused(&self, _shard: &mut ToyShard, _args: Args<'_>, _msg: &[u8]) {}

    fn ran_in_runtime(
        &self,
        _shard: &mut ToyShard,
        _cmd: Cmd,
        _error: Option<&[u8]>,
        _started: u64,
    ) {
    }

    fn exec_conn(
        &self,
        _shard: &mut ToyShard,
        client: &mut ClientCtx,
        _session: &mut (),
        cmd: Cmd,
        args: Args<'_>,
        out: &mut Vec<u8>,
    ) -> ConnAction {
        let mut r = Reply::new(out, client.resp3);
        match cmd {
            Cmd::Ping => r.simple(b"PONG"),
            Cmd::Select => match std::str::from_utf8(args.get(1)).map(str::parse::<u32>) {
                Ok(Ok(db)) => {
                    client.db = db;
                    r.ok();
                }
                _ => r.error("ERR invalid DB index"),
            },
            _ => r.error("ERR not a connection command"),
        }
        ConnAction::Continue
    }

    fn begin_iteration(&self, _shard: &mut ToyShard) {}

    fn end_iteration(&self, _shard: &mut ToyShard, _effects: &mut crate::Effects) {}

    fn tick(&self, _shard: &mut ToyShard, _effects: &mut crate::Effects) {}

    fn export(&self, shard: &mut ToyShard, key: &[u8]) -> Option<Vec<u8>> {
        shard.map.get(key).cloned()
    }

    fn may_move_slots(&self, shard: &ToyShard, slots: &crate::SlotSet) -> bool {
        !shard
            .watches
            .values()
            .flatten()
            .any(|(k, _)| slots.holds_key(k))
    }

    fn take_slots(
        &self,
        shard: &mut ToyShard,
        _effects: &mut crate::Effects,
        slots: &crate::SlotSet,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut names: Vec<Vec<u8>> = shard
            .map
            .keys()
            .filter(|k| slots.holds_key(k))
            .cloned()
            .collect();
        names.sort_unstable();
        names
            .into_iter()
            .map(|k| {
                let v = shard.map.get(&k).cloned();
                shard.set(&k, None);
                (k, v)
            })
            .collect()
    }

    fn key_count(&self, shard: &ToyShard) -> usize {
        shard.map.len()
    }

    fn scratch(&self, _home: usize, _nshards: usize) -> ToyShard {
        ToyShard {
            scratch: true,
            ..ToyShard::default()
        }
    }

    fn load(&self, scratch: &mut ToyShard, key: &[u8], snap: Option<Vec<u8>>) {
        if let Some(v) = snap {
            scratch.map.insert(key.to_vec(), v);
        }
    }

    fn take_dirty(&self, scratch: &mut ToyShard) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut keys = std::mem::take(&mut scratch.dirty);
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .map(|k| {
                let v = scratch.map.get(&k).cloned();
                (k, v)
            })
            .collect()
    }

    fn import(
        &self,
        shard: &mut ToyShard,
        _effects: &mut crate::Effects,
        key: &[u8],
        snap: Option<Vec<u8>>,
        _log: bool,
    ) {
        shard.set(key, snap);
    }

    fn copy_keys(
        &self,
        scratch: &mut ToyShard,
        _client: &ClientCtx,
        cmd: Cmd,
        args: Args<'_>,
    ) -> Vec<Vec<u8>> {
        if cmd == Cmd::KeyCount {
            scratch.wants_names = true;
            return Vec::new();
        }
        let mut keys = vec![args.get(1).to_vec(), args.get(2).to_vec()];
        if cmd == Cmd::Esc {
            keys.push(args.get(3).to_vec());
            return keys;
        }
        keys.extend(scratch.map.get(args.get(1)).cloned());
        keys
    }

    fn copy_names(&self, scratch: &mut ToyShard) -> bool {
        let ask = scratch.wants_names && !scratch.names;
        scratch.names |= ask;
        ask
    }

    fn export_names(&self, shard: &mut ToyShard) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut names: Vec<Vec<u8>> = shard.map.keys().cloned().collect();
        names.sort_unstable();
        names.into_iter().map(|k| (k, Some(Vec::new()))).collect()
    }

    fn reaches_undeclared(&self, cmd: Cmd) -> bool {
        cmd == Cmd::Esc
    }

    fn begin_attempt(&self, shard: &mut ToyShard) {
        shard.journal = Some(Vec::new());
    }

    fn end_attempt(&self, shard: &mut ToyShard, undo: bool) {
        let Some(j) = shard.journal.take() else {
            return;
        };
        if undo {
            for (k, v) in j.into_iter().rev() {
                match v {
                    Some(v) => shard.map.insert(k, v),
                    None => shard.map.remove(&k),
                };
            }
        }
    }

    fn shares(&self, _shard: &ToyShard, cmd: Cmd) -> bool {
        cmd == Cmd::Mget
    }

    fn shared(&self, shard: &mut ToyShard, _cmd: Cmd, _reply: &[u8], calls: u64) {
        shard.shared += calls;
    }

    fn serves_ahead(&self, cmd: Cmd) -> bool {
        cmd == Cmd::QPop
    }

    /// QPOP's `[key, element]` goes back to the head of its key.
    fn put_back(&self, cmd: Cmd, _args: Args<'_>, reply: &[u8]) -> Option<OwnedArgs> {
        if cmd != Cmd::QPop {
            return None;
        }
        let (_, parts) = kevy_resp::split_array(reply)?;
        let [key, elem] = parts.as_slice() else {
            return None;
        };
        let key = kevy_resp::scalar(&reply[key.clone()])?;
        let elem = kevy_resp::scalar(&reply[elem.clone()])?;
        Some(OwnedArgs::from_slices([&b"UNPOP"[..], key, elem]))
    }

    fn blocking(&self, cmd: Cmd) -> bool {
        matches!(cmd, Cmd::BPop | Cmd::QPop | Cmd::BMove)
    }

    fn wait_keys(&self, cmd: Cmd, args: Args<'_>) -> std::ops::Range<usize> {
        match cmd {
            Cmd::BPop | Cmd::QPop => 1..args.len().saturating_sub(1),
            Cmd::BMove => 1..2,
            _ => 0..0,
        }
    }

    fn wakes(&self, shard: &mut ToyShard, _db: u32, _cmd: Cmd, key: &[u8]) -> crate::Wakes {
        if shard.map.contains_key(key) {
            crate::Wakes::Yes
        } else {
            crate::Wakes::No
        }
    }

    fn watch(&self, shard: &mut ToyShard, client: u64, _db: u32, key: &[u8]) {
        let v = shard.version(key);
        shard
            .watches
            .entry(client)
            .or_default()
            .push((key.to_vec(), v));
    }

    fn unwatch(&self, shard: &mut ToyShard, client: u64) {
        shard.watches.remove(&client);
    }

    fn watch_changed(&self, shard: &mut ToyShard, client: u64) -> bool {
        shard
            .watches
            .get(&client)
            .is_some_and(|w| w.iter().any(|(k, v)| shard.version(k) != *v))
    }
}

/// A blocking command's timeout argument, in milliseconds (0: for ever).
fn timeout(arg: &[u8]) -> u64 {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}
