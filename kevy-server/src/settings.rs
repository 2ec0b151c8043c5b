//! The server's settings and statistics baseline: the parameters CONFIG
//! knows, what CONFIG SET changed at run time, and the counter values at the
//! last CONFIG RESETSTAT. CONFIG changes them; INFO reads them.

use crate::server::Server;
use kevy_store::num::parse_i64;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

/// A parameter's value type, which decides CONFIG SET's validation and the
/// normalised form CONFIG GET returns.
#[derive(Clone, Copy)]
pub enum Kind {
    Bool,
    Int(i64, i64),
    /// Bytes, with Redis's `k`/`kb`/`m`/`mb`/`g`/`gb` suffixes accepted.
    Mem,
    Enum(&'static [&'static str]),
    Str,
    /// `save`: pairs of seconds (≥ 1) and changes (≥ 0).
    Save,
    /// `notify-keyspace-events`: class letters, kept as given and shown as
    /// Redis shows them.
    Events,
}

/// What CONFIG SET may do with a parameter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Redis refuses it at run time too.
    Immutable,
    /// Accepted and reported back by CONFIG GET, with no effect on kevy: an
    /// encoding threshold, a log or sampling knob. Ignoring it cannot make a
    /// reply wrong.
    Tunable,
    /// Applied at once on every shard ([`apply_live`]).
    Live,
    /// kevy does not implement the change (persistence, limits, security):
    /// setting the current value is accepted, any other value is refused
    /// rather than silently ignored.
    Fixed,
}

pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub policy: Policy,
    /// Redis's hidden parameters (debugging and test knobs): CONFIG GET
    /// returns them when asked by exact name, never for a pattern.
    pub hidden: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, policy: Policy) -> Param {
    Param {
        name,
        alias: None,
        kind,
        default,
        policy,
        hidden: false,
    }
}

const fn pa(
    name: &'static str,
    alias: &'static str,
    kind: Kind,
    default: &'static str,
    policy: Policy,
) -> Param {
    Param {
        name,
        alias: Some(alias),
        kind,
        default,
        policy,
        hidden: false,
    }
}

/// A hidden parameter.
const fn ph(name: &'static str, kind: Kind, default: &'static str, policy: Policy) -> Param {
    Param {
        hidden: true,
        ..p(name, kind, default, policy)
    }
}

const I32: Kind = Kind::Int(0, i32::MAX as i64);
const I64: Kind = Kind::Int(0, i64::MAX);
pub const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// The parameters CONFIG knows, with Redis 7.0's defaults. `port`, `bind`,
/// `dir` and `proto-max-bulk-len` report what this process actually uses.
#[rustfmt::skip]
pub static PARAMS: &[Param] = {
    use Kind::*;
    use Policy::*;
    &[
        // General.
        p("daemonize", Bool, "no", Immutable),
        p("databases", Int(1, i32::MAX as i64), "16", Immutable),
        p("io-threads", Int(1, 128), "1", Immutable),
        p("io-threads-do-reads", Bool, "no", Immutable),
        p("pidfile", Str, "", Immutable),
        p("logfile", Str, "", Immutable),
        p("loglevel", Enum(&["debug", "verbose", "notice", "warning"]), "notice", Tunable),
        p("supervised", Enum(&["upstart", "systemd", "auto", "no"]), "no", Immutable),
        p("always-show-logo", Bool, "no", Immutable),
        p("syslog-enabled", Bool, "no", Immutable),
        p("set-proc-title", Bool, "yes", Immutable),
        p("cluster-enabled", Bool, "no", Immutable),
        p("hz", I32, "10", Tunable),
        p("dynamic-hz", Bool, "yes", Tunable),
        // Network and clients.
        p("port", Int(0, 65535), "", Fixed),
        p("bind", Str, "", Fixed),
        p("unixsocket", Str, "", Immutable),
        p("unixsocketperm", Int(0, 0o777), "0", Immutable),
        p("tcp-backlog", I32, "511", Immutable),
        p("tls-port", Int(0, 65535), "0", Fixed),
        p("protected-mode", Bool, "no", Fixed),
        p("tcp-keepalive", I32, "300", Fixed),
        p("timeout", I32, "0", Fixed),
        p("maxclients", Int(1, u32::MAX as i64), "10000", Fixed),
        p("proto-max-bulk-len", Mem, "", Fixed),
        p("client-query-buffer-limit", Mem, "1073741824", Fixed),
        p("client-output-buffer-limit", Str, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", Live),
        p("requirepass", Str, "", Fixed),
        p("masterauth", Str, "", Fixed),
        p("masteruser", Str, "", Fixed),
        p("aclfile", Str, "", Immutable),
        p("acllog-max-len", I64, "128", Tunable),
        p("notify-keyspace-events", Events, "", Live),
        p("tracking-table-max-keys", I64, "1000000", Live),
        // Memory and eviction.
        p("maxmemory", Mem, "0", Live),
        p("maxmemory-policy", Enum(POLICIES), "noeviction", Live),
        p("maxmemory-samples", Int(1, i32::MAX as i64), "5", Live),
        p("maxmemory-eviction-tenacity", Int(0, 100), "10", Live),
        p("maxmemory-clients", Str, "0", Fixed),
        p("lfu-log-factor", I32, "10", Live),
        p("lfu-decay-time", I32, "1", Live),
        p("active-expire-effort", Int(1, 10), "1", Tunable),
        p("activerehashing", Bool, "yes", Tunable),
        p("activedefrag", Bool, "no", Tunable),
        p("jemalloc-bg-thread", Bool, "yes", Tunable),
        p("lazyfree-lazy-eviction", Bool, "no", Tunable),
        p("lazyfree-lazy-expire", Bool, "no", Tunable),
        p("lazyfree-lazy-server-del", Bool, "no", Tunable),
        p("lazyfree-lazy-user-del", Bool, "no", Tunable),
        p("lazyfree-lazy-user-flush", Bool, "no", Tunable),
        p("oom-score-adj", Enum(&["no", "yes", "relative", "absolute"]), "no", Fixed),
        // Encodings.
        pa("hash-max-listpack-entries", "hash-max-ziplist-entries", I64, "512", Tunable),
        pa("hash-max-listpack-value", "hash-max-ziplist-value", I64, "64", Tunable),
        pa("list-max-listpack-size", "list-max-ziplist-size", Int(i32::MIN as i64, i32::MAX as i64), "-2", Tunable),
        p("list-compress-depth", I32, "0", Tunable),
        p("set-max-intset-entries", I64, "512", Tunable),
        pa("zset-max-listpack-entries", "zset-max-ziplist-entries", I64, "128", Tunable),
        pa("zset-max-listpack-value", "zset-max-ziplist-value", I64, "64", Tunable),
        p("stream-node-max-bytes", Mem, "4096", Tunable),
        p("stream-node-max-entries", I64, "100", Tunable),
        p("hll-sparse-max-bytes", Mem, "3000", Tunable),
        // Persistence.
        p("save", Save, "3600 1 300 100 60 10000", Live),
        p("appendonly", Bool, "no", Live),
        p("appendfsync", Enum(&["always", "everysec", "no"]), "everysec", Live),
        p("appendfilename", Str, "appendonly.aof", Immutable),
        p("appenddirname", Str, "appendonlydir", Immutable),
        p("dbfilename", Str, "dump.rdb", Live),
        p("dir", Str, "", Live),
        p("rdbcompression", Bool, "yes", Live),
        p("rdbchecksum", Bool, "yes", Live),
        p("stop-writes-on-bgsave-error", Bool, "yes", Tunable),
        p("no-appendfsync-on-rewrite", Bool, "no", Tunable),
        p("auto-aof-rewrite-percentage", I32, "100", Live),
        p("auto-aof-rewrite-min-size", Mem, "67108864", Live),
        p("aof-use-rdb-preamble", Bool, "yes", Tunable),
        p("aof-load-truncated", Bool, "yes", Tunable),
        // Replication (kevy is always a master without replicas).
        pa("replicaof", "slaveof", Str, "", Immutable),
        pa("replica-read-only", "slave-read-only", Bool, "yes", Tunable),
        pa("replica-serve-stale-data", "slave-serve-stale-data", Bool, "yes", Tunable),
        pa("replica-priority", "slave-priority", I32, "100", Tunable),
        pa("replica-lazy-flush", "slave-lazy-flush", Bool, "no", Tunable),
        pa("min-replicas-to-write", "min-slaves-to-write", I32, "0", Fixed),
        pa("min-replicas-max-lag", "min-slaves-max-lag", I32, "10", Tunable),
        p("repl-backlog-size", Mem, "1048576", Tunable),
        p("repl-timeout", Int(1, i32::MAX as i64), "60", Tunable),
        // Diagnostics and scripting.
        p("slowlog-log-slower-than", Int(-1, i64::MAX), "10000", Live),
        p("slowlog-max-len", I64, "128", Live),
        p("latency-monitor-threshold", I64, "0", Tunable),
        p("latency-tracking", Bool, "yes", Tunable),
        p("latency-tracking-info-percentiles", Str, "50 99 99.9", Tunable),
        pa("busy-reply-threshold", "lua-time-limit", I64, "5000", Live),
        p("shutdown-timeout", I32, "10", Tunable),
        // Hidden: debugging and test knobs of loading, saving and crashing,
        // none of which kevy does.
        ph("key-load-delay", Int(i32::MIN as i64, i32::MAX as i64), "0", Tunable),
        ph("rdb-key-save-delay", Int(i32::MIN as i64, i32::MAX as i64), "0", Tunable),
        ph("loading-process-events-interval-bytes", Int(1024, i32::MAX as i64), "2097152", Tunable),
        ph("use-exit-on-panic", Bool, "no", Tunable),
        // kevy's own: load an append-only log up to a damaged record in
        // the middle of a file (discarding what follows) instead of
        // refusing to start. Read at start-up.
        ph("aof-load-corrupt", Bool, "no", Tunable),
        ph("watchdog-period", I32, "0", Fixed),
        ph("lua-enable-deprecated-api", Bool, "no", Immutable),
    ]
};

/// State CONFIG SET and CONFIG RESETSTAT change at run time. It is
/// process-wide: kevy runs one server per process, and the reactors never
/// touch it (they publish counters; INFO subtracts the baseline), so it needs
/// no coordination beyond this lock, taken only by CONFIG and INFO.
pub struct Runtime {
    /// Tunable parameters set by CONFIG SET: canonical name, normalised value.
    pub overrides: Vec<(&'static str, String)>,
    /// Counter values at the last CONFIG RESETSTAT.
    pub baseline: Counters,
}

static RUNTIME: Mutex<Runtime> = Mutex::new(Runtime {
    overrides: Vec::new(),
    baseline: Counters::ZERO,
});

pub fn runtime() -> MutexGuard<'static, Runtime> {
    // A panic while holding the lock leaves plain data behind; keep going.
    RUNTIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Refuses a value a parameter cannot take here, before anything changes
/// (CONFIG SET is all-or-nothing): the reason, as CONFIG SET words it.
pub fn check(name: &str, value: &str) -> Result<(), String> {
    match name {
        "dir" if !std::path::Path::new(value).is_dir() => Err("No such file or directory".into()),
        "dbfilename" if value.contains('/') => {
            Err("dbfilename can't be a path, just a filename".into())
        }
        "client-output-buffer-limit" => parse_output_limits(value).map(|_| ()),
        _ => Ok(()),
    }
}

/// Makes a [`Policy::Live`] parameter's new value take effect; shards read
/// it from an atomic on their next command, or the setting itself when
/// they use it (`save`, `dbfilename`).
pub fn apply_live(server: &Server, name: &str, value: &str) {
    match name {
        // Redis's `dir` is the working directory: files are named
        // relative to it.
        "rdbcompression" => kevy_persist::rdb::set_compression(value == "yes"),
        "dir" => {
            if let Err(e) = std::env::set_current_dir(value) {
                eprintln!("kevy-server: cannot change directory to {value}: {e}");
            }
        }
        "slowlog-log-slower-than" => {
            if let Ok(us) = value.parse() {
                server.cmdstats.set_slower_than(us);
            }
        }
        "client-output-buffer-limit" => {
            if let Ok(classes) = parse_output_limits(value) {
                for (class, limit) in classes {
                    if class == "pubsub" {
                        set_pubsub_limit(limit);
                    }
                }
            }
        }
        "appendfsync" => crate::aof::set_fsync(value),
        "notify-keyspace-events" => {
            crate::notify::configure(crate::notify::parse(value.as_bytes()).unwrap_or(0))
        }
        "busy-reply-threshold" => {
            if let Ok(ms) = value.parse() {
                server.scripts.set_busy_threshold(ms);
            }
        }
        "tracking-table-max-keys" => {
            if let Ok(n) = value.parse() {
                server.tracking.set_max_keys(n);
            }
        }
        // The shards follow at the next switch (aof.rs).
        "appendonly" => server.rewrites.want(value == "yes"),
        "maxmemory"
        | "maxmemory-policy"
        | "maxmemory-samples"
        | "maxmemory-eviction-tenacity"
        | "lfu-log-factor"
        | "lfu-decay-time" => {
            crate::evict::configure(name, value);
        }
        "slowlog-max-len" => {
            if let Ok(n) = value.parse() {
                server
                    .cmdstats
                    .slowlog_max_len
                    .store(n, std::sync::atomic::Ordering::Relaxed);
            }
        }
        _ => {}
    }
}

/// The subscriber output limit in force (`client-output-buffer-limit`'s
/// pubsub class), read by the shards as they deliver messages.
static PUBSUB_LIMIT: [AtomicU64; 3] = [
    AtomicU64::new(32 << 20),
    AtomicU64::new(8 << 20),
    AtomicU64::new(60),
];

pub fn pubsub_limit() -> kevy_rt::OutputLimit {
    // Relaxed: each value stands alone, and a delivery that sees a limit
    // one message late is as right as Redis, which reads it per client.
    kevy_rt::OutputLimit {
        hard: PUBSUB_LIMIT[0].load(Relaxed) as usize,
        soft: PUBSUB_LIMIT[1].load(Relaxed) as usize,
        soft_secs: PUBSUB_LIMIT[2].load(Relaxed),
    }
}

fn set_pubsub_limit(l: kevy_rt::OutputLimit) {
    PUBSUB_LIMIT[0].store(l.hard as u64, Relaxed);
    PUBSUB_LIMIT[1].store(l.soft as u64, Relaxed);
    PUBSUB_LIMIT[2].store(l.soft_secs, Relaxed);
}

/// `client-output-buffer-limit`: groups of a class (`normal`, `replica` or
/// `slave`, `pubsub`), a hard and a soft limit (memory values) and the
/// soft limit's seconds, as Redis parses it; the classes with their limits.
pub fn parse_output_limits(v: &str) -> Result<Vec<(&'static str, kevy_rt::OutputLimit)>, String> {
    let words: Vec<&str> = v.split_ascii_whitespace().collect();
    let bad = || "Invalid arguments".to_string();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut out = Vec::new();
    for g in words.chunks_exact(4) {
        let class = match g[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "replica" | "slave" => "replica",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(g[1].as_bytes()).ok_or_else(bad)?;
        let soft = parse_memory(g[2].as_bytes()).ok_or_else(bad)?;
        let secs: u64 = g[3].parse().map_err(|_| bad())?;
        out.push((
            class,
            kevy_rt::OutputLimit {
                hard: hard as usize,
                soft: soft as usize,
                soft_secs: secs,
            },
        ));
    }
    Ok(out)
}

/// Sets a parameter from the command line (`--name value`), before the
/// shards start: as CONFIG SET does, except that immutable parameters are
/// accepted. A parameter kevy does not implement is refused unless the
/// value is the one kevy runs with.
pub fn set_at_startup(server: &Server, name: &str, value: &str) -> Result<(), String> {
    let p = find_param(name.as_bytes()).ok_or_else(|| format!("unknown option '--{name}'"))?;
    let v = normalize(p.kind, value.as_bytes())
        .and_then(|v| check(p.name, &v).map(|()| v))
        .map_err(|why| format!("invalid value '{value}' for '--{name}': {why}"))?;
    let mut rt = runtime();
    if p.policy == Policy::Fixed {
        let current = param_value(server, p, &rt);
        if normalize(p.kind, current.as_bytes()).map_or(true, |c| c != v) {
            return Err(format!("'--{name} {value}' is not supported by kevy"));
        }
        return Ok(());
    }
    apply_live(server, p.name, &v);
    match rt.overrides.iter_mut().find(|(n, _)| *n == p.name) {
        Some(slot) => slot.1 = v,
        None => rt.overrides.push((p.name, v)),
    }
    Ok(())
}

pub fn find_param(name: &[u8]) -> Option<&'static Param> {
    PARAMS.iter().find(|p| {
        p.name.as_bytes().eq_ignore_ascii_case(name)
            || p.alias
                .is_some_and(|a| a.as_bytes().eq_ignore_ascii_case(name))
    })
}

/// The current value of a parameter that is not one of the process's own
/// facts (port, bind, dir): what CONFIG SET or a flag gave it, else its
/// default.
pub fn current(name: &str) -> Option<String> {
    let p = find_param(name.as_bytes())?;
    let rt = runtime();
    Some(match rt.overrides.iter().find(|(n, _)| *n == p.name) {
        Some((_, v)) => v.clone(),
        None => p.default.to_string(),
    })
}

/// A parameter's current value as CONFIG GET and INFO report it.
pub fn param_value(server: &Server, p: &Param, rt: &Runtime) -> String {
    if let Some((_, v)) = rt.overrides.iter().find(|(n, _)| *n == p.name) {
        if let Kind::Events = p.kind {
            return crate::notify::render(crate::notify::parse(v.as_bytes()).unwrap_or(0));
        }
        return v.clone();
    }
    match p.name {
        "port" => server.config.port.to_string(),
        "bind" => server.config.bind.clone(),
        "dir" => std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        "proto-max-bulk-len" => kevy_resp::MAX_BULK_LEN.to_string(),
        _ => p.default.to_string(),
    }
}

/// Validates a CONFIG SET value and returns the form CONFIG GET reports.
pub fn normalize(kind: Kind, v: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(v);
    match kind {
        Kind::Bool => {
            if v.eq_ignore_ascii_case(b"yes") {
                Ok("yes".into())
            } else if v.eq_ignore_ascii_case(b"no") {
                Ok("no".into())
            } else {
                Err("argument must be 'yes' or 'no'".into())
            }
        }
        Kind::Int(lo, hi) => {
            let n = parse_i64(v).ok_or("argument couldn't be parsed into an integer")?;
            if n < lo || n > hi {
                return Err(format!("argument must be between {lo} and {hi} inclusive"));
            }
            Ok(n.to_string())
        }
        Kind::Mem => parse_memory(v)
            .map(|n| n.to_string())
            .ok_or_else(|| "argument must be a memory value".into()),
        Kind::Enum(names) => names
            .iter()
            .find(|n| n.as_bytes().eq_ignore_ascii_case(v))
            .map(|n| n.to_string())
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            }),
        Kind::Str => Ok(text.into_owned()),
        // Kept as given: the form shown (`param_value`) can lose classes
        // (`AKEn` shows as `AKE`, as in Redis).
        Kind::Events => crate::notify::parse(v)
            .map(|_| text.into_owned())
            .ok_or_else(|| crate::notify::INVALID.into()),
        Kind::Save => {
            let parts: Vec<&str> = text.split_ascii_whitespace().collect();
            let num = |s: &str| s.parse::<i64>().ok();
            let pairs = parts.chunks_exact(2);
            let ok = pairs.remainder().is_empty()
                && pairs.clone().all(|pair| {
                    num(pair[0]).is_some_and(|secs| secs >= 1)
                        && num(pair[1]).is_some_and(|changes| changes >= 0)
                });
            if !ok {
                return Err("Invalid save parameters".into());
            }
            Ok(parts
                .iter()
                .map(|s| s.parse::<i64>().unwrap_or(0).to_string())
                .collect::<Vec<_>>()
                .join(" "))
        }
    }
}

/// Redis's `memtoull`: digits with an optional `b`, `k`, `kb`, `m`, `mb`,
/// `g` or `gb` suffix (any case; `k` is 1000, `kb` 1024).
pub fn parse_memory(v: &[u8]) -> Option<u64> {
    let split = v
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n: u64 = if digits.is_empty() {
        0
    } else {
        std::str::from_utf8(digits).ok()?.parse().ok()?
    };
    n.checked_mul(mul)
}

/// The cumulative counters INFO reports and CONFIG RESETSTAT resets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub connections: u64,
    pub commands: u64,
    pub net_in: u64,
    pub net_out: u64,
    pub rejected: u64,
    pub expired: u64,
    pub evicted: u64,
    pub hits: u64,
    pub misses: u64,
}

impl Counters {
    pub const ZERO: Counters = Counters {
        connections: 0,
        commands: 0,
        net_in: 0,
        net_out: 0,
        rejected: 0,
        expired: 0,
        evicted: 0,
        hits: 0,
        misses: 0,
    };

    pub fn read(server: &Server) -> Counters {
        let rt = &server.rt_stats;
        Counters {
            connections: rt.sum(|s| &s.total_connections),
            commands: rt.sum(|s| &s.total_commands),
            net_in: rt.sum(|s| &s.net_input_bytes),
            net_out: rt.sum(|s| &s.net_output_bytes),
            rejected: rt.sum(|s| &s.rejected_connections),
            expired: server.sum_published(|p| &p.expired_keys),
            evicted: server.sum_published(|p| &p.evicted_keys),
            hits: server.sum_published(|p| &p.keyspace_hits),
            misses: server.sum_published(|p| &p.keyspace_misses),
        }
    }

    /// Counts since `base`; a counter that went backwards reads as zero.
    pub fn since(self, base: Counters) -> Counters {
        Counters {
            connections: self.connections.saturating_sub(base.connections),
            commands: self.commands.saturating_sub(base.commands),
            net_in: self.net_in.saturating_sub(base.net_in),
            net_out: self.net_out.saturating_sub(base.net_out),
            rejected: self.rejected.saturating_sub(base.rejected),
            expired: self.expired.saturating_sub(base.expired),
            evicted: self.evicted.saturating_sub(base.evicted),
            hits: self.hits.saturating_sub(base.hits),
            misses: self.misses.saturating_sub(base.misses),
        }
    }
}
