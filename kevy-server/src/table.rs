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
use kevy_rt::{ClientCtx, ConnAction, Fold, Route, TxOp};

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
    /// Keys that move with the arguments (LMPOP's numkeys, ZUNIONSTORE), or
    /// an argument checked before any shard is involved (SCAN's cursor): the
    /// function computes the route or the error reply.
    Custom(fn(Args<'_>, &ClientCtx, usize) -> Result<Route, String>),
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
/// The index is open-addressed over a hash computed while folding case, so
/// a lookup touches the name once and compares one candidate in the common
/// case: it runs for every command, ahead of everything else.
pub struct Table {
    cmds: Vec<CommandSpec>,
    /// Subcommands by command id, empty for a command that is no container.
    subs: Vec<&'static [SubSpec]>,
    /// Command id + 1 per slot; 0 is empty. Power-of-two sized, at most a
    /// quarter full.
    slots: Vec<u16>,
    /// Uppercase names by id: clients send names in one case, so a plain
    /// comparison with the lowercase or uppercase form nearly always decides.
    upper: Vec<Box<[u8]>>,
}

/// Longest command name the lookup lowercases on the stack.
const MAX_NAME: usize = 32;

impl Table {
    pub fn new() -> Self {
        let mut t = Table {
            cmds: Vec::new(),
            subs: Vec::new(),
            slots: vec![0; 64],
            upper: Vec::new(),
        };
        crate::families::register_all(&mut t);
        t
    }

    /// FNV-1a over the lowercased name.
    #[inline]
    fn hash_folded(name: &[u8]) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        for &b in name {
            h = (h ^ b.to_ascii_lowercase() as u32).wrapping_mul(0x0100_0193);
        }
        h
    }

    fn rebuild_index(&mut self) {
        let size = (self.cmds.len() * 4).next_power_of_two().max(64);
        self.slots = vec![0; size];
        for (id, spec) in self.cmds.iter().enumerate() {
            let mask = size - 1;
            let mut i = Self::hash_folded(spec.name.as_bytes()) as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = id as u16 + 1;
        }
    }

    pub fn add(&mut self, spec: CommandSpec) {
        self.add_container(spec, &[]);
    }

    /// Adds a container command and the subcommands it runs: dispatch
    /// accepts exactly these.
    pub fn add_container(&mut self, spec: CommandSpec, subs: &'static [SubSpec]) {
        debug_assert!(spec.name.len() <= MAX_NAME);
        debug_assert!(!spec.name.bytes().any(|b| b.is_ascii_uppercase()));
        assert!(
            self.lookup(spec.name.as_bytes()).is_none(),
            "command {} registered twice",
            spec.name
        );
        self.upper
            .push(spec.name.to_ascii_uppercase().into_bytes().into());
        self.cmds.push(spec);
        self.subs.push(subs);
        if self.cmds.len() * 4 > self.slots.len() {
            self.rebuild_index();
        } else {
            // Insert just this one.
            let mask = self.slots.len() - 1;
            let mut i = Self::hash_folded(spec.name.as_bytes()) as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = self.cmds.len() as u16;
        }
    }

    /// Finds a command by name, ignoring ASCII case, without allocating.
    #[inline]
    pub fn lookup(&self, name: &[u8]) -> Option<u16> {
        if name.len() > MAX_NAME {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = Self::hash_folded(name) as usize & mask;
        loop {
            let id = self.slots[i];
            if id == 0 {
                return None;
            }
            let k = id as usize - 1;
            let lower = self.cmds[k].name.as_bytes();
            if lower == name || *self.upper[k] == *name || lower.eq_ignore_ascii_case(name) {
                return Some(id - 1);
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
    }
}
