//! Access control as Redis 7.0 has it: users with passwords, command
//! rights, key and channel patterns; the check a command of a restricted
//! connection passes; the ACL log.
//!
//! The users live in one process-wide registry behind a lock that only
//! AUTH, ACL and a connection's refresh take. Each change makes a new
//! `Arc<User>` (copy on write) and bumps [`epoch`]; a connection keeps the
//! `Arc` of its user ([`Login`]) and takes the new one when the epoch moved.
//! The runtime puts a connection's commands to the check only while its
//! `ClientCtx::checked` is set: the default user with every right clears
//! it, so its commands cost one flag test that was already there (the
//! runtime's gate). A change of the rules marks every connection checked
//! again before the change is answered, so the next command of each sees
//! the new rules (families/acl.rs).

use crate::table::{flag, Table};
use kevy_resp::Args;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

pub mod sha256;

/// Redis's command categories, in ACL CAT's order.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// What Redis 7.0 writes to a connection it refuses in protected mode.
pub const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is \
enabled and no password is set for the default user. In this mode connections are only accepted \
from the loopback interface. If you want to connect from external computers to Redis you may \
adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG \
SET protected-mode no' from the loopback interface by connecting to Redis from the same host the \
server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. \
Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the \
protected mode by editing the Redis configuration file, and setting the protected mode option to \
'no', and then restarting the server. 3) If you started the server manually just for testing, \
restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the \
default user. NOTE: You only need to do one of the above things in order for the server to start \
accepting connections from the outside.\r\n";

// ---------------------------------------------------------------------------
// The command index: every command and subcommand of the table, by the
// table's statistics slot, with its categories.

/// One command or subcommand as the rules see it.
pub struct Entry {
    /// `get`, `config|get`.
    pub name: &'static str,
    /// Bit `i` set: in category `CATEGORIES[i]`.
    pub cats: u32,
    /// The container of a subcommand.
    pub parent: Option<u16>,
    /// The subcommands of a container (slots).
    pub children: Vec<u16>,
}

pub struct Index {
    pub entries: Vec<Entry>,
    by_name: BTreeMap<&'static str, u16>,
}

impl Index {
    fn build(table: &Table) -> Index {
        let cats = |acl: &[&str]| {
            acl.iter().fold(0u32, |m, c| {
                let c = c.trim_start_matches('@');
                match CATEGORIES.iter().position(|k| *k == c) {
                    Some(i) => m | 1 << i,
                    None => m,
                }
            })
        };
        let mut entries: Vec<Entry> = Vec::with_capacity(table.stat_slots());
        for _ in 0..table.stat_slots() {
            entries.push(Entry {
                name: "",
                cats: 0,
                parent: None,
                children: Vec::new(),
            });
        }
        for (id, spec) in table.iter().enumerate() {
            let id = id as u16;
            entries[id as usize].name = spec.name;
            entries[id as usize].cats = cats(spec.acl);
            for (i, sub) in table.subs(id).iter().enumerate() {
                let slot = table.sub_slot(id, i);
                entries[slot as usize] = Entry {
                    name: sub.name,
                    cats: cats(sub.acl),
                    parent: Some(id),
                    children: Vec::new(),
                };
                entries[id as usize].children.push(slot);
            }
        }
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name, i as u16))
            .collect();
        Index { entries, by_name }
    }

    /// A command (`get`) or subcommand (`config|get`) by name, any case.
    pub fn find(&self, name: &[u8]) -> Option<u16> {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        self.by_name.get(lower.as_str()).copied()
    }

    fn words(&self) -> usize {
        self.entries.len().div_ceil(64)
    }
}

/// The index of the command table (the same table every server builds).
pub fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| Index::build(&Table::new()))
}

fn category(name: &[u8]) -> Option<usize> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
}

// ---------------------------------------------------------------------------
// Users and their rules.

/// Read or write rights of a key pattern.
const READ: u8 = 1;
const WRITE: u8 = 2;
const RW: u8 = READ | WRITE;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub rights: u8,
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    /// `sanitize-payload` / `skip-sanitize-payload` as last set.
    pub sanitize: Option<bool>,
    /// SHA-256 hashes in lowercase hex, in the order added.
    pub passwords: Vec<String>,
    /// Allowed commands, one bit per index slot.
    cmds: Vec<u64>,
    /// Every command, present and future: set by `+@all` only, cleared by
    /// any removal (Redis's `SELECTOR_FLAG_ALLCOMMANDS`).
    allcommands: bool,
    /// `+@all` was the last word on all commands (Redis's reserved bit):
    /// decides whether the rules are described from `+@all` or `-@all`.
    future: bool,
    pub keys: Vec<KeyPattern>,
    pub allkeys: bool,
    pub channels: Vec<Vec<u8>>,
    pub allchannels: bool,
}

/// Why a rule was refused: Redis's `ACLSetUserStringError` texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    Unknown,
    Syntax,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSub,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeysAfterAll => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and \
                 does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::ChannelsAfterAll => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid \
                 and does not have any effect. Try 'resetchannels' to start with an empty list \
                 of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase \
                 hexadecimal characters"
            }
            RuleError::FirstArgOfSub => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no password, no rights,
    /// and the channels `acl-pubsub-default` gives.
    pub fn new(name: &[u8]) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            cmds: vec![0; index().words()],
            allcommands: false,
            future: false,
            keys: Vec::new(),
            allkeys: false,
            channels: Vec::new(),
            allchannels: PUBSUB_ALLCHANNELS.load(Relaxed),
        }
    }

    /// The default user of a fresh server: `on nopass ~* &* +@all`.
    pub fn default_user() -> User {
        let mut u = User::new(b"default");
        for r in ["on", "nopass", "~*", "&*", "+@all"] {
            let _ = u.apply(r.as_bytes());
        }
        u
    }

    /// Every right there is: its commands need no check.
    pub fn unrestricted(&self) -> bool {
        self.allcommands && self.allkeys && self.allchannels
    }

    fn bit(&self, slot: u16) -> bool {
        self.cmds[slot as usize / 64] & (1 << (slot % 64)) != 0
    }

    fn set_bit(&mut self, slot: u16, on: bool) {
        let (w, b) = (slot as usize / 64, 1u64 << (slot % 64));
        if on {
            self.cmds[w] |= b;
        } else {
            self.cmds[w] &= !b;
            self.allcommands = false;
        }
    }

    /// A command and, for a container, its subcommands.
    fn set_command(&mut self, slot: u16, on: bool) {
        self.set_bit(slot, on);
        for &c in &index().entries[slot as usize].children {
            self.set_bit(c, on);
        }
    }

    fn set_category(&mut self, cat: usize, on: bool) {
        for (slot, e) in index().entries.iter().enumerate() {
            if e.cats & (1 << cat) != 0 {
                self.set_bit(slot as u16, on);
            }
        }
    }

    fn all_commands(&mut self, on: bool) {
        for w in &mut self.cmds {
            *w = if on { u64::MAX } else { 0 };
        }
        self.allcommands = on;
        self.future = on;
    }

    /// Applies one rule (Redis's `ACLSetUser` operations).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"skip-sanitize-payload" => self.sanitize = Some(false),
            b"sanitize-payload" => self.sanitize = Some(true),
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"allkeys" => return self.apply(b"~*"),
            b"resetkeys" => {
                self.keys.clear();
                self.allkeys = false;
            }
            b"allchannels" => return self.apply(b"&*"),
            b"resetchannels" => {
                self.channels.clear();
                self.allchannels = false;
            }
            b"allcommands" | b"+@all" => self.all_commands(true),
            b"nocommands" | b"-@all" => self.all_commands(false),
            // Selectors are not kept: a user has its root rules only.
            b"clearselectors" => {}
            b"reset" => {
                for r in ["resetpass", "resetkeys", "resetchannels"] {
                    self.apply(r.as_bytes())?;
                }
                if PUBSUB_ALLCHANNELS.load(Relaxed) {
                    self.apply(b"allchannels")?;
                }
                for r in ["off", "sanitize-payload", "-@all"] {
                    self.apply(r.as_bytes())?;
                }
            }
            _ => return self.apply_pattern(op),
        }
        Ok(())
    }

    fn apply_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let Some((&first, rest)) = op.split_first() else {
            return Err(RuleError::Syntax);
        };
        match first {
            b'>' => {
                let h = sha256::hex(rest);
                if !self.passwords.contains(&h) {
                    self.passwords.push(h);
                }
                self.nopass = false;
            }
            b'#' => {
                let h = valid_hash(rest)?;
                if !self.passwords.contains(&h) {
                    self.passwords.push(h);
                }
                self.nopass = false;
            }
            b'<' | b'!' => {
                let h = if first == b'<' {
                    sha256::hex(rest)
                } else {
                    valid_hash(rest)?
                };
                let at = self.passwords.iter().position(|p| *p == h);
                self.passwords.remove(at.ok_or(RuleError::NoSuchPassword)?);
            }
            b'~' | b'%' => {
                if self.allkeys {
                    return Err(RuleError::KeysAfterAll);
                }
                let (rights, pat) = if first == b'%' {
                    let mut rights = 0;
                    let mut i = 0;
                    loop {
                        match rest.get(i) {
                            Some(b'R' | b'r') if rights & READ == 0 => rights |= READ,
                            Some(b'W' | b'w') if rights & WRITE == 0 => rights |= WRITE,
                            Some(b'~') => break,
                            _ => return Err(RuleError::Syntax),
                        }
                        i += 1;
                    }
                    if rights == 0 {
                        return Err(RuleError::Syntax);
                    }
                    (rights, &rest[i + 1..])
                } else {
                    (RW, rest)
                };
                if pat == b"*" && rights == RW {
                    self.allkeys = true;
                    self.keys.clear();
                }
                match self.keys.iter_mut().find(|k| k.pattern == pat) {
                    Some(k) => k.rights |= rights,
                    None => self.keys.push(KeyPattern {
                        pattern: pat.to_vec(),
                        rights,
                    }),
                }
            }
            b'&' => {
                if self.allchannels {
                    return Err(RuleError::ChannelsAfterAll);
                }
                if rest == b"*" {
                    self.allchannels = true;
                    self.channels.clear();
                }
                if !self.channels.iter().any(|c| c == rest) {
                    self.channels.push(rest.to_vec());
                }
            }
            b'+' | b'-' => {
                let on = first == b'+';
                if let Some(cat) = rest.strip_prefix(b"@") {
                    let c = category(cat).ok_or(RuleError::Unknown)?;
                    self.set_category(c, on);
                } else if let Some(slot) = index().find(rest) {
                    self.set_command(slot, on);
                } else {
                    // `cmd|sub|arg` (Redis 7.0's first-arg rules, which kevy
                    // does not keep, and which Redis refuses for a
                    // subcommand anyway).
                    let parts: Vec<&[u8]> = rest.split(|&b| b == b'|').collect();
                    if parts.len() > 2 {
                        let sub = [parts[0], b"|", parts[1]].concat();
                        if index().find(&sub).is_some() {
                            return Err(RuleError::FirstArgOfSub);
                        }
                    }
                    return Err(RuleError::Unknown);
                }
            }
            _ => return Err(RuleError::Syntax),
        }
        Ok(())
    }

    /// Whether `password` authenticates this user.
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = sha256::hex(password);
        // Every hash compared in full: the time taken says nothing of
        // which one matched.
        self.passwords
            .iter()
            .fold(false, |ok, p| ok | constant_eq(p.as_bytes(), h.as_bytes()))
    }

    /// The flags GETUSER lists.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    /// The key patterns as GETUSER shows them: `~* ` or each pattern.
    pub fn describe_keys(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        let parts: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let p = String::from_utf8_lossy(&k.pattern);
                match k.rights {
                    RW => format!("~{p}"),
                    READ => format!("%R~{p}"),
                    _ => format!("%W~{p}"),
                }
            })
            .collect();
        parts.join(" ")
    }

    pub fn describe_channels(&self) -> String {
        if self.allchannels {
            return "&*".into();
        }
        let parts: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        parts.join(" ")
    }

    /// The command rules as Redis 7.0 describes them: from `+@all` or
    /// `-@all`, the categories that fit best one after the other, then the
    /// single commands that still differ, in table order.
    pub fn describe_commands(&self) -> String {
        let idx = index();
        let additive = !self.future;
        let mut rules = vec![if additive { "-@all" } else { "+@all" }.to_string()];
        let mut fake = User::new(b"");
        fake.all_commands(!additive);
        // What is still to describe: the categories applied so far are
        // taken back out of it.
        let mut temp = self.clone();
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (c, _) in CATEGORIES.iter().enumerate() {
                let (mut on, mut off) = (0, 0);
                for (slot, e) in idx.entries.iter().enumerate() {
                    if e.cats & (1 << c) != 0 {
                        if temp.bit(slot as u16) {
                            on += 1;
                        } else {
                            off += 1;
                        }
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(c);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(c) = best else { break };
            fake.set_category(c, additive);
            temp.set_category(c, !additive);
            rules.push(format!(
                "{}@{}",
                if additive { '+' } else { '-' },
                CATEGORIES[c]
            ));
        }
        // Each command, then its subcommands: a container's rule covers
        // them, so only those that still differ follow it.
        let tops = idx
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.parent.is_none());
        for (top, e) in tops {
            let top = top as u16;
            for slot in std::iter::once(top).chain(e.children.iter().copied()) {
                let mine = self.bit(slot);
                if mine != fake.bit(slot) {
                    let name = idx.entries[slot as usize].name;
                    rules.push(format!("{}{name}", if mine { '+' } else { '-' }));
                    fake.set_command(slot, mine);
                }
            }
        }
        rules.join(" ")
    }

    /// The user as ACL LIST and the ACL file give it.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("user {}", String::from_utf8_lossy(&self.name))];
        parts.extend(self.flags().iter().map(|f| f.to_string()));
        parts.extend(self.passwords.iter().map(|p| format!("#{p}")));
        let keys = self.describe_keys();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if self.allchannels {
            parts.push("&*".into());
        } else {
            parts.push("resetchannels".into());
            let ch = self.describe_channels();
            if !ch.is_empty() {
                parts.push(ch);
            }
        }
        parts.push(self.describe_commands());
        parts.join(" ")
    }
}

fn valid_hash(h: &[u8]) -> Result<String, RuleError> {
    if h.len() != 64
        || !h
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Redis refuses user names with spaces or NUL bytes.
pub fn valid_name(name: &[u8]) -> bool {
    !name.iter().any(|&b| b.is_ascii_whitespace() || b == 0)
}

// ---------------------------------------------------------------------------
// The registry.

type Users = BTreeMap<Vec<u8>, Arc<User>>;

fn registry() -> &'static RwLock<Users> {
    static USERS: OnceLock<RwLock<Users>> = OnceLock::new();
    USERS.get_or_init(|| {
        let mut m = Users::new();
        m.insert(b"default".to_vec(), Arc::new(User::default_user()));
        RwLock::new(m)
    })
}

fn read() -> std::sync::RwLockReadGuard<'static, Users> {
    registry().read().unwrap_or_else(|e| e.into_inner())
}

fn write() -> std::sync::RwLockWriteGuard<'static, Users> {
    registry().write().unwrap_or_else(|e| e.into_inner())
}

/// Bumped by every change of a user: a connection whose cached user is
/// older takes it again.
static EPOCH: AtomicU64 = AtomicU64::new(1);
/// `protected-mode`.
static PROTECTED: AtomicBool = AtomicBool::new(true);
/// `acl-pubsub-default allchannels`.
static PUBSUB_ALLCHANNELS: AtomicBool = AtomicBool::new(false);
/// `acllog-max-len`.
static LOG_MAX: AtomicU64 = AtomicU64::new(128);

pub fn epoch() -> u64 {
    // Relaxed: the registry's lock orders the user itself; the epoch only
    // says "look again".
    EPOCH.load(Relaxed)
}

fn changed() {
    EPOCH.fetch_add(1, Relaxed);
}

pub fn get(name: &[u8]) -> Option<Arc<User>> {
    read().get(name).cloned()
}

pub fn default_user() -> Arc<User> {
    get(b"default").unwrap_or_else(|| Arc::new(User::default_user()))
}

/// Every user, in name order.
pub fn users() -> Vec<Arc<User>> {
    read().values().cloned().collect()
}

/// ACL SETUSER: the rules apply to a copy, which replaces the user only
/// when every rule was accepted. On error, the rule and why.
pub fn set_user(name: &[u8], rules: &[&[u8]]) -> Result<(), (Vec<u8>, RuleError)> {
    let mut users = write();
    let mut u = match users.get(name) {
        Some(u) => (**u).clone(),
        None => User::new(name),
    };
    for r in rules {
        u.apply(r).map_err(|e| (r.to_vec(), e))?;
    }
    users.insert(name.to_vec(), Arc::new(u));
    changed();
    Ok(())
}

/// ACL DELUSER: how many of `names` existed and are gone. `default` is
/// never deleted (the caller refuses it first).
pub fn del_users(names: &[&[u8]]) -> usize {
    let mut users = write();
    let n = names
        .iter()
        .filter(|n| **n != b"default" && users.remove(**n).is_some())
        .count();
    if n > 0 {
        changed();
    }
    n
}

/// `requirepass`: the default user's only password, or `nopass` when
/// empty (Redis's `ACLUpdateDefaultUserPassword`).
pub fn set_requirepass(pass: &str) {
    let mut users = write();
    let mut u = users
        .get(&b"default"[..])
        .map_or_else(User::default_user, |u| (**u).clone());
    let _ = u.apply(b"resetpass");
    if pass.is_empty() {
        let _ = u.apply(b"nopass");
    } else {
        let mut r = b">".to_vec();
        r.extend_from_slice(pass.as_bytes());
        let _ = u.apply(&r);
    }
    users.insert(b"default".to_vec(), Arc::new(u));
    changed();
}

pub fn set_protected_mode(on: bool) {
    PROTECTED.store(on, Relaxed);
}

pub fn set_pubsub_default(all: bool) {
    PUBSUB_ALLCHANNELS.store(all, Relaxed);
}

pub fn set_log_max(n: u64) {
    LOG_MAX.store(n, Relaxed);
    let mut log = log();
    log.truncate(n as usize);
}

/// Splits a rule line as Redis's `sdssplitargs` does (quotes allowed).
pub fn split_line(line: &str) -> Option<Vec<Vec<u8>>> {
    kevy_resp::split_line(line.as_bytes())
}

/// A `user <name> <rules…>` line of a config file (also `--user "<name>
/// <rules…>"` on the command line): creates or changes the user. Redis
/// refuses a user defined twice in the config; the caller passes each line
/// once.
pub fn apply_user_line(line: &str) -> Result<(), String> {
    let words =
        split_line(line).ok_or_else(|| "Unbalanced quotes in configuration line".to_string())?;
    let words: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
    let words = match words.first() {
        Some(w) if w.eq_ignore_ascii_case(b"user") => &words[1..],
        _ => &words[..],
    };
    let Some((name, rules)) = words.split_first() else {
        return Err("User line must have a name".into());
    };
    if !valid_name(name) {
        return Err("Usernames can't contain spaces or null characters".into());
    }
    let mut seen = CONFIG_USERS.lock().unwrap_or_else(|e| e.into_inner());
    if seen.iter().any(|n| n == name) {
        return Err("Duplicate user found. A user can only be defined once in config files".into());
    }
    // Each config line defines its user from scratch.
    let mut all: Vec<&[u8]> = vec![b"reset"];
    all.extend_from_slice(rules);
    set_user(name, &all).map_err(|(r, e)| {
        format!(
            "Error in user declaration '{}': {}",
            String::from_utf8_lossy(&r),
            e.text()
        )
    })?;
    seen.push(name.to_vec());
    Ok(())
}

/// The users config lines defined (they conflict with `aclfile`).
static CONFIG_USERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

// ---------------------------------------------------------------------------
// The ACL file.

/// `aclfile`, if set.
pub fn aclfile() -> Option<String> {
    crate::settings::current("aclfile").filter(|f| !f.is_empty())
}

pub const NO_ACLFILE: &str = "This Redis instance is not configured to use an ACL file. You may \
want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you \
have a Redis configuration file set) in order to store users in the Redis configuration.";

/// Loads `path`, replacing every user; nothing changes when a line is
/// wrong. The error names the file and line, as Redis's does.
pub fn load_file(path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{path}': {e}"))?;
    let mut fresh = Users::new();
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(words) = split_line(line) else {
            errors.push(format!("{path}:{}: unbalanced quotes in acl line. ", n + 1));
            continue;
        };
        if words.first().map(Vec::as_slice) != Some(b"user") || words.len() < 2 {
            errors.push(format!(
                "{path}:{}: should start with user keyword. ",
                n + 1
            ));
            continue;
        }
        let name = &words[1];
        if !valid_name(name) {
            errors.push(format!(
                "{path}:{}: username '{}' contains invalid characters. ",
                n + 1,
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        if fresh.contains_key(name) {
            errors.push(format!(
                "{path}:{}: Duplicate user '{}' found. ",
                n + 1,
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        let mut u = User::new(name);
        for w in &words[2..] {
            if let Err(e) = u.apply(w) {
                errors.push(format!("{path}:{}: {}. ", n + 1, e.text()));
                break;
            }
        }
        fresh.insert(name.clone(), Arc::new(u));
    }
    if !errors.is_empty() {
        return Err(errors.concat().trim_end().to_string());
    }
    fresh
        .entry(b"default".to_vec())
        .or_insert_with(|| Arc::new(User::default_user()));
    *write() = fresh;
    changed();
    Ok(())
}

/// Writes every user to `path` (through a temporary file renamed over it,
/// so a crash leaves the old file or the new one).
pub fn save_file(path: &str) -> Result<(), String> {
    let mut text = String::new();
    for u in users() {
        text.push_str(&u.describe());
        text.push('\n');
    }
    let tmp = format!("{path}.tmp-{}", std::process::id());
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("There was an error trying to save the ACLs. Please check the server logs for more information: {e}")
        })
}

/// At start-up, after the flags: loads `aclfile`, refused together with
/// `user` lines as Redis refuses them.
pub fn startup() -> Result<(), String> {
    let Some(path) = aclfile() else {
        return Ok(());
    };
    let config_users = CONFIG_USERS.lock().map(|s| !s.is_empty()).unwrap_or(false);
    if config_users {
        return Err(
            "Configuring Redis with users defined in redis.conf and at the same time \
                    setting an ACL file path is invalid. This setup is very likely to lead to \
                    configuration errors and security holes, please define either an ACL file \
                    or declare users directly in your redis.conf, but not both."
                .into(),
        );
    }
    load_file(&path)
}

// ---------------------------------------------------------------------------
// A connection's login.

/// Who a connection is: its user (cached, see the module doc) and whether
/// it authenticated.
#[derive(Debug, Default)]
pub struct Login {
    /// `None` until the connection opens: the default user.
    pub user: Option<Arc<User>>,
    pub authenticated: bool,
    /// [`epoch`] when `user` was taken.
    pub epoch: u64,
}

impl Login {
    /// A new connection's (and RESET's): the default user, authenticated
    /// when it is on and needs no password.
    pub fn fresh() -> Login {
        let epoch = epoch();
        let user = default_user();
        Login {
            authenticated: user.enabled && user.nopass,
            user: Some(user),
            epoch,
        }
    }

    pub fn name(&self) -> &[u8] {
        self.user.as_ref().map_or(b"default", |u| &u.name)
    }

    /// Whether the connection's commands can skip the check.
    pub fn unchecked(&self) -> bool {
        self.authenticated && self.user.as_ref().is_some_and(|u| u.unrestricted())
    }

    /// Takes the current version of the user. A deleted user leaves the
    /// connection unauthenticated (it is being closed).
    pub fn refresh(&mut self) {
        let epoch = epoch();
        if self.epoch == epoch {
            return;
        }
        self.epoch = epoch;
        match get(self.name()) {
            Some(u) => self.user = Some(u),
            None => {
                self.user = Some(default_user());
                self.authenticated = false;
            }
        }
    }

    /// AUTH: becomes `name` when the password is right.
    pub fn authenticate(&mut self, name: &[u8], password: &[u8]) -> bool {
        match get(name) {
            Some(u) if u.password_ok(password) => {
                self.epoch = epoch();
                self.user = Some(u);
                self.authenticated = true;
                true
            }
            _ => false,
        }
    }
}

/// Whether a connection that has not authenticated must (Redis's
/// `authRequired`): the default user needs a password or is off.
pub fn auth_required() -> bool {
    let d = default_user();
    !d.nopass || !d.enabled
}

/// A CLIENT INFO line for the ACL log, from what the connection's home
/// knows at the check (buffer sizes are not among it and read as zero).
pub fn client_info(
    client: &kevy_rt::ClientCtx,
    session: &crate::ctx::Session,
    cmd: &str,
    now_ms: u64,
) -> String {
    let name = session
        .name
        .as_deref()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    format!(
        "id={} addr={} laddr={} fd=-1 name={name} age={} idle=0 flags=N db={} sub=0 psub=0 \
         ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 \
         omem=0 tot-mem=0 events=r cmd={cmd} user={} redir=-1 resp={}",
        client.id,
        client.peer,
        client.local,
        (now_ms / 1000).saturating_sub(client.created_ms / 1000),
        client.db,
        String::from_utf8_lossy(session.login.name()),
        if client.resp3 { 3 } else { 2 },
    )
}

/// Whether a connection from `peer` is refused in protected mode: the
/// mode is on, the default user has no password, and the peer is not on
/// the loopback interface (Redis's `connIsLocal`: 127.0.0.0/8 or ::1).
pub fn protected_refuses(peer: &std::net::SocketAddr) -> bool {
    if !PROTECTED.load(Relaxed) || !default_user().nopass {
        return false;
    }
    !is_local(peer)
}

pub fn is_local(peer: &std::net::SocketAddr) -> bool {
    match peer.ip() {
        std::net::IpAddr::V4(v4) => v4.octets()[0] == 127,
        std::net::IpAddr::V6(v6) => v6.is_loopback(),
    }
}

// ---------------------------------------------------------------------------
// The check.

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    Command,
    /// The argument index of the key.
    Key(usize),
    /// The argument index of the channel.
    Channel(usize),
}

/// The index slot of the command `args` names (its subcommand's, for a
/// container).
pub fn slot_of(table: &Table, cmd: u16, args: Args<'_>) -> u16 {
    table.stat_slot(cmd, args)
}

/// Redis's `ACLCheckAllUserCommandPerm` for the root rules.
pub fn check(user: &User, table: &Table, cmd: u16, args: Args<'_>) -> Result<(), Denied> {
    let slot = slot_of(table, cmd, args);
    let spec = table.get(cmd);
    if !user.allcommands && spec.flags & flag::NO_AUTH == 0 && !user.bit(slot) {
        return Err(Denied::Command);
    }
    if !user.allkeys {
        for (i, flags) in crate::families::command::key_args(table, args) {
            let mut need = 0;
            for f in flags {
                match *f {
                    "access" => need |= READ,
                    "insert" | "delete" | "update" => need |= WRITE,
                    _ => {}
                }
            }
            let key = args.get(i);
            let ok = user
                .keys
                .iter()
                .any(|k| k.rights & need == need && kevy_store::glob::matches(&k.pattern, key));
            if !ok {
                return Err(Denied::Key(i));
            }
        }
    }
    if !user.allchannels {
        let (channels, pattern) = channel_args(spec.name, args);
        for i in channels {
            let ch = args.get(i);
            let ok = user.channels.iter().any(|p| {
                if pattern {
                    p == ch
                } else {
                    kevy_store::glob::matches(p, ch)
                }
            });
            if !ok {
                return Err(Denied::Channel(i));
            }
        }
    }
    Ok(())
}

/// The channel arguments Redis checks (publish and subscribe, not
/// unsubscribe), and whether they are patterns.
fn channel_args(name: &str, args: Args<'_>) -> (std::ops::Range<usize>, bool) {
    match name {
        "publish" | "spublish" => (1..2.min(args.len()), false),
        "subscribe" | "ssubscribe" => (1..args.len(), false),
        "psubscribe" => (1..args.len(), true),
        _ => (0..0, false),
    }
}

/// The NOPERM error Redis 7.0 answers.
pub fn noperm(d: Denied, fullname: &str) -> String {
    match d {
        Denied::Command => {
            format!("NOPERM this user has no permissions to run the '{fullname}' command")
        }
        Denied::Key(_) => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel(_) => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
    }
}

// ---------------------------------------------------------------------------
// The ACL log.

#[derive(Clone, Debug)]
pub struct LogEntry {
    pub count: u64,
    /// `command`, `key`, `channel` or `auth`.
    pub reason: &'static str,
    /// `toplevel`, `multi` or `lua`.
    pub context: &'static str,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub client_info: String,
}

fn log() -> std::sync::MutexGuard<'static, Vec<LogEntry>> {
    static LOG: Mutex<Vec<LogEntry>> = Mutex::new(Vec::new());
    LOG.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records a refusal, newest first; one within a minute of an entry with
/// the same reason, context, object and user counts on that entry (as
/// Redis groups them).
pub fn log_denial(entry: LogEntry) {
    let max = LOG_MAX.load(Relaxed) as usize;
    let mut log = log();
    let now = entry.created_ms;
    let same = log.iter().position(|e| {
        e.reason == entry.reason
            && e.context == entry.context
            && e.object == entry.object
            && e.username == entry.username
            && now.saturating_sub(e.updated_ms) < 60_000
    });
    if let Some(i) = same {
        let mut e = log.remove(i);
        e.count += 1;
        e.updated_ms = now;
        e.client_info = entry.client_info;
        log.insert(0, e);
        return;
    }
    log.insert(0, entry);
    log.truncate(max);
}

pub fn log_entries(n: usize) -> Vec<LogEntry> {
    log().iter().take(n).cloned().collect()
}

pub fn log_reset() {
    log().clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &str) -> User {
        let mut u = User::new(b"t");
        for r in rules.split_whitespace() {
            u.apply(r.as_bytes()).unwrap();
        }
        u
    }

    #[test]
    fn rules_describe_as_redis() {
        assert_eq!(
            User::default_user().describe(),
            "user default on nopass ~* &* +@all"
        );
        let u = user("on >p1 ~k* %R~r* &ch* +get +config|get");
        assert_eq!(
            u.describe(),
            format!(
                "user t on #{} ~k* %R~r* resetchannels &ch* -@all +get +config|get",
                sha256::hex(b"p1")
            )
        );
        for (rules, want) in [
            ("+@all +get", "+@all"),
            ("-@all -get", "-@all"),
            ("+@all -get +get", "+@all"),
            ("+@all -@dangerous +get", "+@all -@dangerous"),
            ("+@read -@read", "-@all"),
            ("-@all +@all", "+@all"),
            ("+@all -@all", "-@all"),
            ("+config +config|get", "-@all +config"),
            ("-@all +config|get -@admin", "-@all"),
            ("+@all -config|get", "+@all -config|get"),
            ("-get +get", "-@all +get"),
            ("+get -get", "-@all"),
            ("+@all -get -@read", "+@all -@read"),
            ("+@read -get", "-@all +@read -get"),
        ] {
            assert_eq!(user(rules).describe_commands(), want, "{rules}");
        }
    }

    #[test]
    fn rules_refused_as_redis() {
        let mut u = User::new(b"t");
        assert_eq!(u.apply(b"bogus"), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"+nosuch"), Err(RuleError::Unknown));
        assert_eq!(u.apply(b"+@nosuch"), Err(RuleError::Unknown));
        assert_eq!(u.apply(b"%X~a"), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"+config|get|x"), Err(RuleError::FirstArgOfSub));
        assert_eq!(u.apply(b"<nope"), Err(RuleError::NoSuchPassword));
        assert_eq!(u.apply(b"#abc"), Err(RuleError::BadHash));
        u.apply(b"allkeys").unwrap();
        assert_eq!(u.apply(b"~b"), Err(RuleError::KeysAfterAll));
        u.apply(b"allchannels").unwrap();
        assert_eq!(u.apply(b"&b"), Err(RuleError::ChannelsAfterAll));
        // Duplicate patterns merge their rights.
        let u = user("%W~b %R~b %RW~a");
        assert_eq!(u.describe_keys(), "~b ~a");
    }

    #[test]
    fn passwords_check_by_hash() {
        let u =
            user("on >secret #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8");
        assert!(u.password_ok(b"secret"));
        assert!(u.password_ok(b"password"));
        assert!(!u.password_ok(b"other"));
        assert!(!user("off >secret").password_ok(b"secret"));
        assert!(user("on nopass").password_ok(b"anything"));
        assert!(!user("on nopass resetpass").password_ok(b""));
    }

    #[test]
    fn checks_commands_keys_and_channels() {
        let table = Table::new();
        let run = |u: &User, line: &[&str]| {
            let a = kevy_resp::OwnedArgs::from_slices(line.iter().map(|s| s.as_bytes()));
            let id = table.lookup(line[0].as_bytes()).unwrap();
            check(u, &table, id, a.args())
        };
        let u = user("on ~k* %R~r* &ch* +get +set +publish +psubscribe +config|get");
        assert_eq!(run(&u, &["get", "k1"]), Ok(()));
        assert_eq!(run(&u, &["get", "r1"]), Ok(()));
        assert_eq!(run(&u, &["set", "r1", "v"]), Err(Denied::Key(1)));
        assert_eq!(run(&u, &["get", "x"]), Err(Denied::Key(1)));
        assert_eq!(run(&u, &["del", "k1"]), Err(Denied::Command));
        assert_eq!(run(&u, &["config", "get", "x"]), Ok(()));
        assert_eq!(run(&u, &["config", "set", "x", "y"]), Err(Denied::Command));
        assert_eq!(run(&u, &["auth", "x"]), Ok(()));
        assert_eq!(run(&u, &["publish", "chan", "m"]), Ok(()));
        assert_eq!(run(&u, &["publish", "other", "m"]), Err(Denied::Channel(1)));
        // Patterns must be allowed literally.
        assert_eq!(run(&u, &["psubscribe", "ch*"]), Ok(()));
        assert_eq!(run(&u, &["psubscribe", "chx*"]), Err(Denied::Channel(1)));
        assert!(User::default_user().unrestricted());
        assert!(!user("+@all ~* -get &*").unrestricted());
    }

    #[test]
    fn config_user_lines_define_users_once() {
        apply_user_line("user cfg-line-a on >pw ~a* +get").unwrap();
        let u = get(b"cfg-line-a").unwrap();
        assert!(u.password_ok(b"pw"));
        assert_eq!(u.describe_keys(), "~a*");
        assert_eq!(
            apply_user_line("user cfg-line-a on").unwrap_err(),
            "Duplicate user found. A user can only be defined once in config files"
        );
        // The `user` keyword is optional (a `--user` flag's value).
        apply_user_line("cfg-line-b on nopass \"~with space\"").unwrap();
        assert_eq!(get(b"cfg-line-b").unwrap().describe_keys(), "~with space");
        let e = apply_user_line("cfg-line-c +nosuch").unwrap_err();
        assert!(e.contains("'+nosuch'"), "{e}");
        assert!(get(b"cfg-line-c").is_none());
        assert!(apply_user_line("\"bad name\" on").is_err());
        del_users(&[b"cfg-line-a", b"cfg-line-b"]);
    }

    #[test]
    fn loopback_peers_are_local() {
        let local = |s: &str| is_local(&s.parse().unwrap());
        assert!(local("127.0.0.1:5000"));
        assert!(local("127.8.9.10:5000"));
        assert!(local("[::1]:5000"));
        assert!(!local("10.0.0.1:5000"));
        assert!(!local("192.168.1.2:5000"));
        assert!(!local("[::ffff:127.0.0.1]:5000"));
        assert!(!local("[fe80::1]:5000"));
    }
}
