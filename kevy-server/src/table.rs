//! The command table: every command's name, arity, flags and key positions
//! (the facts `COMMAND INFO` reports) plus how kevy routes and runs it.
//! Routing in kevy-rt is derived from these entries; there is no second list.
//!
//! Fields, once:
//! - `name`: lowercase, as COMMAND reports it.
//! - `arity`: Redis's convention: `n` means exactly n arguments including the
//!   name, `-n` means at least n.
//! - `flags`: Redis's command flags (`write`, `readonly`, `fast`, …).
//! - `first`, `last`, `step`: Redis's legacy key range (`last` -1 = last
//!   argument; 0,0,0 = no keys).
//! - `acl`: ACL categories, as COMMAND INFO lists them.
//! - `route`: where kevy runs it (see [`RouteKind`]).
//! - `run`: the handler.
//!
//! A container command (CLIENT, CONFIG, COMMAND) also has a [`SubSpec`]
//! table that both dispatch and COMMAND read, so a subcommand's arity check
//! and its COMMAND INFO entry come from one place. (COMMAND also lists the
//! subcommands of Redis's that a container does not run.)

use crate::ctx::{ConnCtx, Ctx};
use kevy_resp::Args;
use kevy_rt::{ClientCtx, ConnAction, Fold, PubSubOp, Route, TxOp};
use kevy_store::Db;

pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 14;
    pub const NO_MULTI: u32 = 1 << 15;
    pub const MOVABLEKEYS: u32 = 1 << 16;
    pub const ALLOW_BUSY: u32 = 1 << 17;
    pub const NO_ASYNC_LOADING: u32 = 1 << 18;
    /// kevy's own, not a Redis flag (COMMAND does not show it): the
    /// command runs a script, which may run long enough for the runtime
    /// to serve other connections while it runs (`Service::runs_long`).
    pub const RUNS_SCRIPT: u32 = 1 << 24;
    /// kevy's own: the command may write keys of a database other than
    /// its client's (MOVE, COPY … DB, SWAPDB), or keys it does not name
    /// (FLUSHDB, FLUSHALL), so a client blocked on such a key may be
    /// served (`Service::reaches_other_dbs`).
    pub const OTHER_DBS: u32 = 1 << 25;
    /// kevy's own: the command may wait as a blocking one does, though
    /// Redis does not flag it `blocking` (WAIT).
    pub const WAITS: u32 = 1 << 26;

    /// Names in the order Redis prints them in COMMAND INFO.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// How kevy routes a command.
#[derive(Clone, Copy)]
pub enum RouteKind {
    /// Home thread, connection state, no keys.
    Conn,
    /// Keys from the table's `first/last/step`, folded as given.
    Keys(Fold),
    /// Every shard, folded as given.
    All(Fold),
    /// Transaction control, run by the runtime (MULTI, EXEC, WATCH, …).
    Tx(TxOp),
    /// Pub/sub, run by the runtime (SUBSCRIBE, PUBLISH, …).
    PubSub(PubSubOp),
    /// Keys that move with the arguments (LMPOP's numkeys, ZUNIONSTORE), or
    /// an argument checked before any shard is involved (SCAN's cursor): the
    /// function computes the route or the error reply.
    Custom(fn(Args<'_>, &ClientCtx, usize) -> Result<Route, String>),
    /// A custom route for a command whose keys are named by values (SORT's
    /// BY and GET patterns). When `route` answers `Route::All(Fold::One)`
    /// the command runs by copy, and `keys` names the keys it needs, given
    /// the copies loaded so far into the scratch database (kevy-rt's
    /// `Service::copy_keys`).
    Reading {
        route: fn(Args<'_>, &ClientCtx, usize) -> Result<Route, String>,
        keys: fn(&mut Db<'_>, Args<'_>) -> Vec<Vec<u8>>,
    },
}

/// A command's handler.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs on the shard that owns the keys (or on every shard).
    Shard(fn(&mut Ctx<'_>)),
    /// Runs on the connection's home thread.
    Conn(fn(&mut ConnCtx<'_>) -> ConnAction),
}

/// One command; see the module doc for the fields.
#[derive(Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    pub first: i32,
    pub last: i32,
    pub step: i32,
    pub acl: &'static [&'static str],
    pub route: RouteKind,
    pub run: Handler,
}

impl CommandSpec {
    /// The route of a command whose keys are where its key spec says
    /// (`RouteKind::Keys`), its replies folded with `fold`.
    #[inline]
    pub fn keys_route(&self, fold: Fold) -> Route {
        Route::Keys {
            first: self.first.max(0) as u32,
            last: self.last,
            step: self.step.max(1) as u32,
            extra: 0,
            fold,
        }
    }

    /// The common shape: one key at argument 1, run on the shard that owns
    /// it.
    pub const fn single_key(
        name: &'static str,
        arity: i32,
        flags: u32,
        acl: &'static [&'static str],
        run: fn(&mut Ctx<'_>),
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            first: 1,
            last: 1,
            step: 1,
            acl,
            route: RouteKind::Keys(Fold::One),
            run: Handler::Shard(run),
        }
    }
}

/// One subcommand of a container command: the facts COMMAND INFO reports
/// for it and its handler. Its key positions are always 0 0 0.
pub struct SubSpec {
    /// Full lowercase name, `container|sub`.
    pub name: &'static str,
    /// Counts the container's name too, as Redis does (`client|setname` is 3).
    pub arity: i32,
    pub flags: u32,
    pub acl: &'static [&'static str],
    pub run: fn(&mut ConnCtx<'_>) -> ConnAction,
}

impl SubSpec {
    /// The part after `|`.
    pub fn short(&self) -> &'static str {
        self.name.split_once('|').map_or(self.name, |(_, s)| s)
    }
}

/// Every command kevy knows, looked up by case-insensitive name.
///
/// A name is folded to lowercase eight bytes at a time into a fixed-size
/// key (`NameKey`); the index is open-addressed over a hash of that key
/// and each slot keeps the key itself, so a lookup is a handful of word
/// operations and one or two whole-key comparisons, with no call to
/// `memcmp`: it runs for every command, ahead of everything else.
pub struct Table {
    cmds: Vec<CommandSpec>,
    /// Subcommands by command id, empty for a command that is no container.
    subs: Vec<&'static [SubSpec]>,
    /// Statistics slot of each command's first subcommand: commands take
    /// slots `0..cmds.len()`, subcommands the slots after them, so
    /// commandstats counts `config|get` as Redis does, not `config`.
    sub_slot: Vec<u16>,
    /// Names by statistics slot.
    slot_names: Vec<&'static str>,
    /// Power-of-two sized, at most a quarter full: the names clients use
    /// (after `rename-command`).
    slots: Vec<IndexSlot>,
    /// Renamed names longer than a [`NameKey`] holds, lowercased: looked
    /// at only for a name too long for `slots`.
    long_names: Vec<(Vec<u8>, u16)>,
    /// The index by the commands' own names, kept once a command is
    /// renamed: the server's own commands (a save point's BGSAVE, the
    /// SHUTDOWN of a SIGTERM, the log's replay) still find them.
    builtin: Option<Vec<IndexSlot>>,
    /// `rename-command`s applied: command id, new name (`None`: removed).
    renamed: Vec<(u16, Option<Vec<u8>>)>,
}

/// Longest command name: what a [`NameKey`] holds.
const MAX_NAME: usize = 24;

/// A name of up to [`MAX_NAME`] bytes, lowercased, zero-padded, with its
/// length (so a name with trailing NULs is not its prefix).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct NameKey {
    words: [u64; 3],
    len: u64,
}

impl NameKey {
    #[inline(always)]
    fn new(name: &[u8]) -> Option<NameKey> {
        if name.len() > MAX_NAME {
            return None;
        }
        // Most names fit one word; padding words are zero and stay zero.
        let mut words = [lower_ascii(load_word(name)), 0, 0];
        if name.len() > 8 {
            words[1] = lower_ascii(load_word(&name[8..]));
            if name.len() > 16 {
                words[2] = lower_ascii(load_word(&name[16..]));
            }
        }
        Some(NameKey {
            words,
            len: name.len() as u64,
        })
    }

    #[inline(always)]
    fn hash(&self) -> usize {
        let h = (self.words[0] ^ self.words[1].rotate_left(21) ^ self.words[2].rotate_left(42))
            .wrapping_add(self.len)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize
    }
}

/// The first eight bytes of `b`, little-endian, zero-padded, without a call
/// to `memcpy`: short lengths are read as two overlapping loads whose
/// overlap holds the same bytes.
#[inline(always)]
fn load_word(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    } else if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]) as u64;
        lo | (hi << (8 * (n - 4)))
    } else if n > 0 {
        b[0] as u64 | (b[n / 2] as u64) << (8 * (n / 2)) | (b[n - 1] as u64) << (8 * (n - 1))
    } else {
        0
    }
}

/// Lowercases the ASCII letters among eight bytes at once (bytes of 0x80
/// and above are left alone, as `to_ascii_lowercase` does).
#[inline(always)]
fn lower_ascii(x: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = x & !HIGH;
    // High bit of each byte: set when the byte is >= 'A', and when > 'Z'.
    let ge_a = low7 + 0x3f3f_3f3f_3f3f_3f3f;
    let gt_z = low7 + 0x2525_2525_2525_2525;
    let upper = ge_a & !gt_z & !x & HIGH;
    x | (upper >> 2)
}

#[derive(Clone, Copy, Default)]
struct IndexSlot {
    key: NameKey,
    /// Command id + 1; 0 is empty.
    id: u16,
}

impl Table {
    pub fn new() -> Self {
        let mut t = Table {
            cmds: Vec::new(),
            subs: Vec::new(),
            sub_slot: Vec::new(),
            slot_names: Vec::new(),
            slots: vec![IndexSlot::default(); 64],
            long_names: Vec::new(),
            builtin: None,
            renamed: Vec::new(),
        };
        crate::families::register_all(&mut t);
        t.slot_names = t.cmds.iter().map(|c| c.name).collect();
        for id in 0..t.cmds.len() {
            t.sub_slot.push(t.slot_names.len() as u16);
            t.slot_names.extend(t.subs[id].iter().map(|s| s.name));
        }
        t
    }

    /// The statistics slot of command `cmd` run with `args`: its
    /// subcommand's for a container, else its own.
    #[inline(always)]
    pub fn stat_slot(&self, cmd: u16, args: Args<'_>) -> u16 {
        let subs = self.subs[cmd as usize];
        if subs.is_empty() || args.len() < 2 {
            return cmd;
        }
        let sub = args.get(1);
        match subs
            .iter()
            .position(|s| s.short().as_bytes().eq_ignore_ascii_case(sub))
        {
            Some(i) => self.sub_slot[cmd as usize] + i as u16,
            None => cmd,
        }
    }

    /// The statistics slot of subcommand `i` of command `cmd` (ACL rules
    /// use the slots as command ids).
    pub fn sub_slot(&self, cmd: u16, i: usize) -> u16 {
        self.sub_slot[cmd as usize] + i as u16
    }

    /// How many statistics slots there are.
    pub fn stat_slots(&self) -> usize {
        self.slot_names.len()
    }

    /// The name statistics report for `slot` (`get`, `config|get`).
    pub fn slot_name(&self, slot: u16) -> &'static str {
        self.slot_names[slot as usize]
    }

    fn insert_index(slots: &mut [IndexSlot], key: NameKey, id: u16) {
        let mask = slots.len() - 1;
        let mut i = key.hash() & mask;
        while slots[i].id != 0 {
            i = (i + 1) & mask;
        }
        slots[i] = IndexSlot { key, id: id + 1 };
    }

    pub fn add(&mut self, spec: CommandSpec) {
        self.add_container(spec, &[]);
    }

    /// Adds a container command and the subcommands it runs: dispatch
    /// accepts exactly these.
    pub fn add_container(&mut self, spec: CommandSpec, subs: &'static [SubSpec]) {
        assert!(spec.name.len() <= MAX_NAME, "{} is too long", spec.name);
        debug_assert!(!spec.name.bytes().any(|b| b.is_ascii_uppercase()));
        assert!(
            self.lookup(spec.name.as_bytes()).is_none(),
            "command {} registered twice",
            spec.name
        );
        self.cmds.push(spec);
        self.subs.push(subs);
        if self.cmds.len() * 4 > self.slots.len() {
            let size = (self.cmds.len() * 4).next_power_of_two().max(64);
            self.slots = vec![IndexSlot::default(); size];
            for (id, spec) in self.cmds.iter().enumerate() {
                let key = NameKey::new(spec.name.as_bytes()).expect("checked length");
                Self::insert_index(&mut self.slots, key, id as u16);
            }
        } else {
            let key = NameKey::new(spec.name.as_bytes()).expect("checked length");
            Self::insert_index(&mut self.slots, key, self.cmds.len() as u16 - 1);
        }
    }

    /// Finds a command by the name clients call it, ignoring ASCII case,
    /// without allocating.
    #[inline]
    pub fn lookup(&self, name: &[u8]) -> Option<u16> {
        self.lookup_inline(name)
    }

    /// [`lookup`](Self::lookup) inlined, for the execution point's
    /// routing (every command).
    #[inline(always)]
    pub fn lookup_inline(&self, name: &[u8]) -> Option<u16> {
        let Some(key) = NameKey::new(name) else {
            return self.lookup_long(name);
        };
        Self::find(&self.slots, key)
    }

    #[cold]
    fn lookup_long(&self, name: &[u8]) -> Option<u16> {
        self.long_names
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, id)| id)
    }

    /// Finds a command by its own name, whatever `rename-command` did: for
    /// the commands the server issues itself.
    pub fn lookup_builtin(&self, name: &[u8]) -> Option<u16> {
        match &self.builtin {
            Some(b) => Self::find(b, NameKey::new(name)?),
            None => self.lookup(name),
        }
    }

    /// Whether `rename-command` changed any name.
    pub fn has_renames(&self) -> bool {
        !self.renamed.is_empty()
    }

    /// Redis's `rename-command`: the command answers to `to` from now on,
    /// or to no name when `to` is empty. Errors as Redis words them.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        let id = self
            .lookup(from.as_bytes())
            .ok_or("No such command in rename-command")?;
        if !to.is_empty() && self.lookup(to.as_bytes()).is_some() {
            return Err("Target command name already exists".into());
        }
        if self.builtin.is_none() {
            self.builtin = Some(self.slots.clone());
        }
        let to = (!to.is_empty()).then(|| to.to_ascii_lowercase().into_bytes());
        match self.renamed.iter_mut().find(|(i, _)| *i == id) {
            Some(slot) => slot.1 = to,
            None => self.renamed.push((id, to)),
        }
        let mut slots = vec![IndexSlot::default(); self.slots.len()];
        self.long_names.clear();
        for (i, spec) in self.cmds.iter().enumerate() {
            let name: &[u8] = match self.renamed.iter().find(|(r, _)| *r as usize == i) {
                Some((_, Some(n))) => n,
                Some((_, None)) => continue,
                None => spec.name.as_bytes(),
            };
            match NameKey::new(name) {
                Some(key) => Self::insert_index(&mut slots, key, i as u16),
                None => self.long_names.push((name.to_vec(), i as u16)),
            }
        }
        self.slots = slots;
        Ok(())
    }

    #[inline(always)]
    fn find(slots: &[IndexSlot], key: NameKey) -> Option<u16> {
        let mask = slots.len() - 1;
        let mut i = key.hash() & mask;
        loop {
            let slot = &slots[i];
            if slot.id == 0 {
                return None;
            }
            if slot.key == key {
                return Some(slot.id - 1);
            }
            i = (i + 1) & mask;
        }
    }

    pub fn get(&self, id: u16) -> &CommandSpec {
        &self.cmds[id as usize]
    }

    /// The subcommands of command `id`, empty for a command that is no
    /// container.
    pub fn subs(&self, id: u16) -> &'static [SubSpec] {
        self.subs[id as usize]
    }

    /// The subcommands of the command named `name`.
    pub fn subcommands(&self, name: &str) -> &'static [SubSpec] {
        self.lookup(name.as_bytes()).map_or(&[], |id| self.subs(id))
    }

    pub fn iter(&self) -> impl Iterator<Item = &CommandSpec> {
        self.cmds.iter()
    }

    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }
}

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

/// Redis's arity check.
pub fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_finds_every_command() {
        let t = Table::new();
        for (id, spec) in t.iter().enumerate() {
            assert_eq!(t.lookup(spec.name.as_bytes()), Some(id as u16));
            assert_eq!(
                t.lookup(spec.name.to_ascii_uppercase().as_bytes()),
                Some(id as u16)
            );
        }
        assert_eq!(t.lookup(b"no-such-command"), None);
        assert_eq!(t.lookup(&[b'x'; 40]), None);
        assert_eq!(t.lookup(b""), None);
        // Folding is exact: no byte but an ASCII capital changes, and the
        // length counts (a trailing NUL is not padding).
        assert_eq!(t.lookup(b"GeT"), t.lookup(b"get"));
        assert_eq!(t.lookup(b"get\0"), None);
        assert_eq!(t.lookup(b"georadius\x7fro"), None);
        assert_eq!(t.lookup(b"g\xc5t"), None);
    }

    #[test]
    fn rename_command_moves_or_removes_a_name() {
        let mut t = Table::new();
        let get = t.lookup(b"get").unwrap();
        let flushall = t.lookup(b"flushall").unwrap();
        let long = "b840fc02d524045429941cc15f59e41cb7be6c52";
        t.rename("GET", "fetch").unwrap();
        t.rename("flushall", "").unwrap();
        t.rename("config", long).unwrap();
        assert_eq!(t.lookup(b"get"), None);
        assert_eq!(t.lookup(b"FETCH"), Some(get));
        assert_eq!(t.lookup(b"flushall"), None);
        assert_eq!(t.lookup_builtin(b"flushall"), Some(flushall));
        assert_eq!(t.lookup(b"config"), None);
        assert_eq!(
            t.lookup(long.to_ascii_uppercase().as_bytes()),
            t.lookup_builtin(b"config")
        );
        assert!(t.lookup(b"set").is_some());
        assert_eq!(
            t.rename("nosuch", "x").unwrap_err(),
            "No such command in rename-command"
        );
        assert_eq!(
            t.rename("set", "fetch").unwrap_err(),
            "Target command name already exists"
        );
        assert!(t.has_renames());
    }

    #[test]
    fn load_word_pads_every_length() {
        let src = b"abcdefghij";
        for n in 0..=10 {
            let mut want = [0u8; 8];
            let k = n.min(8);
            want[..k].copy_from_slice(&src[..k]);
            assert_eq!(load_word(&src[..n]), u64::from_le_bytes(want), "{n}");
        }
    }

    #[test]
    fn swar_lowercase_matches_byte_lowercase_for_every_byte() {
        for b in 0..=255u8 {
            let x = u64::from_le_bytes([b, b'A', b, b'z', b'@', b'[', 0xC1, b]);
            let want: Vec<u8> = x.to_le_bytes().iter().map(u8::to_ascii_lowercase).collect();
            assert_eq!(lower_ascii(x).to_le_bytes().to_vec(), want, "byte {b:#x}");
        }
    }
}
