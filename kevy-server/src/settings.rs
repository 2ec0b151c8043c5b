//! The server's settings and statistics baseline: the parameters CONFIG
//! knows, what CONFIG SET changed at run time, and the counter values at the
//! last CONFIG RESETSTAT. CONFIG changes them; INFO reads them.
//!
//! Every parameter is one [`PARAMS`] entry: name, alias, type, default,
//! and what CONFIG SET may do with it ([`Policy`]). The config file and
//! the command line ([`load_directive`]) and CONFIG SET check a value the
//! same way ([`normalize`], [`check`]) and keep it in one place
//! ([`Runtime::overrides`]); what a value drives is applied in
//! [`apply_live`]. Values the shards need on their hot path are never read
//! from here: they are published typed, lock-free, where the shards look
//! (the reactors' [`kevy_rt::Limits`], atomics of a feature's own), so a
//! new parameter is an entry in the table and, if it acts, a line in
//! `apply_live`.

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
    /// A file mode in octal (`unixsocketperm`), up to the bound.
    Octal(i64),
    /// `bind`: addresses, each `*`, `::*` or an IP, `-` in front when
    /// optional.
    Bind,
}

/// What CONFIG SET may do with a parameter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Applied at start-up; Redis refuses it at run time too.
    Immutable,
    /// Applied at start-up; CONFIG SET accepts only the value in force
    /// (Redis would re-bind or restart something kevy does not).
    Startup,
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
        p("databases", Int(1, crate::server::DATABASES as i64), "16", Immutable),
        p("io-threads", Int(1, 128), "1", Immutable),
        p("io-threads-do-reads", Bool, "no", Immutable),
        p("pidfile", Str, "", Immutable),
        p("logfile", Str, "", Immutable),
        p("loglevel", Enum(&["debug", "verbose", "notice", "warning"]), "notice", Live),
        p("supervised", Enum(&["upstart", "systemd", "auto", "no"]), "no", Immutable),
        p("always-show-logo", Bool, "no", Immutable),
        p("syslog-enabled", Bool, "no", Immutable),
        p("syslog-ident", Str, "redis", Immutable),
        p("syslog-facility", Enum(&["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]), "local0", Immutable),
        p("crash-log-enabled", Bool, "yes", Tunable),
        p("crash-memcheck-enabled", Bool, "yes", Tunable),
        p("ignore-warnings", Str, "", Tunable),
        p("proc-title-template", Str, "{title} {listen-addr} {server-mode}", Tunable),
        p("disable-thp", Bool, "yes", Immutable),
        p("enable-debug-command", Enum(&["no", "yes", "local"]), "no", Immutable),
        p("enable-module-command", Enum(&["no", "yes", "local"]), "no", Immutable),
        p("enable-protected-configs", Enum(&["no", "yes", "local"]), "no", Immutable),
        p("server_cpulist", Str, "", Immutable),
        p("bio_cpulist", Str, "", Immutable),
        p("aof_rewrite_cpulist", Str, "", Immutable),
        p("bgsave_cpulist", Str, "", Immutable),
        p("shutdown-on-sigint", Str, "default", Fixed),
        p("shutdown-on-sigterm", Str, "default", Fixed),
        p("sanitize-dump-payload", Enum(&["no", "yes", "clients"]), "no", Tunable),
        p("propagation-error-behavior", Enum(&["ignore", "panic", "panic-on-replicas"]), "ignore", Tunable),
        p("set-proc-title", Bool, "yes", Immutable),
        p("cluster-enabled", Bool, "no", Immutable),
        p("hz", I32, "10", Live),
        p("dynamic-hz", Bool, "yes", Tunable),
        // Network and clients.
        p("port", Int(0, 65535), "6379", Startup),
        p("bind", Bind, "127.0.0.1", Startup),
        p("bind-source-addr", Str, "", Tunable),
        p("unixsocket", Str, "", Immutable),
        p("unixsocketperm", Octal(0o777), "0", Immutable),
        p("tcp-backlog", I32, "511", Immutable),
        p("socket-mark-id", I32, "0", Tunable),
        p("tls-port", Int(0, 65535), "0", Fixed),
        p("protected-mode", Bool, "yes", Live),
        p("tcp-keepalive", I32, "300", Live),
        p("timeout", I32, "0", Live),
        p("maxclients", Int(1, u32::MAX as i64), "10000", Live),
        p("proto-max-bulk-len", Mem, "", Fixed),
        p("client-query-buffer-limit", Mem, "1073741824", Live),
        p("client-output-buffer-limit", Str, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", Live),
        p("requirepass", Str, "", Live),
        p("masterauth", Str, "", Fixed),
        p("masteruser", Str, "", Fixed),
        p("aclfile", Str, "", Immutable),
        p("acllog-max-len", I64, "128", Live),
        p("acl-pubsub-default", Enum(&["allchannels", "resetchannels"]), "resetchannels", Live),
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
        p("activedefrag", Bool, "no", Fixed),
        p("active-defrag-cycle-max", Int(1, 99), "25", Tunable),
        p("active-defrag-cycle-min", Int(1, 99), "1", Tunable),
        p("active-defrag-ignore-bytes", Mem, "104857600", Tunable),
        p("active-defrag-max-scan-fields", I64, "1000", Tunable),
        p("active-defrag-threshold-lower", Int(0, 1000), "10", Tunable),
        p("active-defrag-threshold-upper", Int(0, 1000), "100", Tunable),
        p("jemalloc-bg-thread", Bool, "yes", Tunable),
        p("lazyfree-lazy-eviction", Bool, "no", Tunable),
        p("lazyfree-lazy-expire", Bool, "no", Tunable),
        p("lazyfree-lazy-server-del", Bool, "no", Tunable),
        p("lazyfree-lazy-user-del", Bool, "no", Tunable),
        p("lazyfree-lazy-user-flush", Bool, "no", Tunable),
        p("oom-score-adj", Enum(&["no", "yes", "relative", "absolute"]), "no", Fixed),
        p("oom-score-adj-values", Str, "0 200 800", Tunable),
        // Encodings.
        pa("hash-max-listpack-entries", "hash-max-ziplist-entries", I64, "512", Tunable),
        pa("hash-max-listpack-value", "hash-max-ziplist-value", I64, "64", Tunable),
        pa("list-max-listpack-size", "list-max-ziplist-size", Int(i32::MIN as i64, i32::MAX as i64), "-2", Tunable),
        p("list-compress-depth", I32, "0", Tunable),
        p("set-max-intset-entries", I64, "512", Tunable),
        pa("zset-max-listpack-entries", "zset-max-ziplist-entries", I64, "128", Tunable),
        pa("zset-max-listpack-value", "zset-max-ziplist-value", I64, "64", Tunable),
        p("stream-node-max-bytes", Mem, "4096", Live),
        p("stream-node-max-entries", I64, "100", Live),
        p("hll-sparse-max-bytes", Mem, "3000", Live),
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
        p("aof-disable-auto-gc", Bool, "no", Tunable),
        p("aof-rewrite-incremental-fsync", Bool, "yes", Tunable),
        p("rdb-save-incremental-fsync", Bool, "yes", Tunable),
        p("aof-timestamp-enabled", Bool, "no", Fixed),
        p("rdb-del-sync-files", Bool, "no", Tunable),
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
        p("repl-backlog-ttl", I64, "3600", Tunable),
        p("repl-disable-tcp-nodelay", Bool, "no", Tunable),
        p("repl-diskless-load", Enum(&["disabled", "on-empty-db", "swapdb"]), "disabled", Tunable),
        p("repl-diskless-sync", Bool, "yes", Tunable),
        p("repl-diskless-sync-delay", I32, "5", Tunable),
        p("repl-diskless-sync-max-replicas", I32, "0", Tunable),
        pa("repl-ping-replica-period", "repl-ping-slave-period", Int(1, i32::MAX as i64), "10", Tunable),
        pa("replica-announce-ip", "slave-announce-ip", Str, "", Tunable),
        pa("replica-announce-port", "slave-announce-port", Int(0, 65535), "0", Tunable),
        p("replica-announced", Bool, "yes", Tunable),
        p("replica-ignore-disk-write-errors", Bool, "no", Tunable),
        pa("replica-ignore-maxmemory", "slave-ignore-maxmemory", Bool, "yes", Tunable),
        // Cluster mode is off (`cluster-enabled no`): these shape a mode
        // kevy does not run in.
        p("cluster-config-file", Str, "nodes.conf", Immutable),
        p("cluster-port", Int(0, 65535), "0", Immutable),
        p("cluster-node-timeout", I64, "15000", Tunable),
        p("cluster-migration-barrier", I32, "1", Tunable),
        p("cluster-require-full-coverage", Bool, "yes", Tunable),
        pa("cluster-replica-no-failover", "cluster-slave-no-failover", Bool, "no", Tunable),
        pa("cluster-replica-validity-factor", "cluster-slave-validity-factor", I32, "10", Tunable),
        p("cluster-allow-reads-when-down", Bool, "no", Tunable),
        p("cluster-allow-pubsubshard-when-down", Bool, "yes", Tunable),
        p("cluster-allow-replica-migration", Bool, "yes", Tunable),
        p("cluster-announce-hostname", Str, "", Tunable),
        p("cluster-announce-ip", Str, "", Tunable),
        p("cluster-announce-port", Int(0, 65535), "0", Tunable),
        p("cluster-announce-bus-port", Int(0, 65535), "0", Tunable),
        p("cluster-announce-tls-port", Int(0, 65535), "0", Tunable),
        p("cluster-preferred-endpoint-type", Enum(&["ip", "hostname", "unknown-endpoint"]), "ip", Tunable),
        p("cluster-link-sendbuf-limit", Mem, "0", Tunable),
        // TLS is not built in (`tls-port 0`): the files and ciphers of a
        // listener that does not exist.
        p("tls-cert-file", Str, "", Tunable),
        p("tls-key-file", Str, "", Tunable),
        p("tls-key-file-pass", Str, "", Tunable),
        p("tls-client-cert-file", Str, "", Tunable),
        p("tls-client-key-file", Str, "", Tunable),
        p("tls-client-key-file-pass", Str, "", Tunable),
        p("tls-dh-params-file", Str, "", Tunable),
        p("tls-ca-cert-file", Str, "", Tunable),
        p("tls-ca-cert-dir", Str, "", Tunable),
        p("tls-protocols", Str, "", Tunable),
        p("tls-ciphers", Str, "", Tunable),
        p("tls-ciphersuites", Str, "", Tunable),
        p("tls-prefer-server-ciphers", Bool, "no", Tunable),
        p("tls-session-caching", Bool, "yes", Tunable),
        p("tls-session-cache-size", I32, "20480", Tunable),
        p("tls-session-cache-timeout", I32, "300", Tunable),
        p("tls-cluster", Bool, "no", Tunable),
        p("tls-replication", Bool, "no", Tunable),
        p("tls-auth-clients", Enum(&["no", "yes", "optional"]), "yes", Tunable),
        // Diagnostics and scripting.
        p("slowlog-log-slower-than", Int(-1, i64::MAX), "10000", Live),
        p("slowlog-max-len", I64, "128", Live),
        // kevy's own: the Prometheus endpoint's port (0: off).
        p("metrics-port", Int(0, 65535), "0", Immutable),
        p("enable-debug-command", Enum(&["no", "yes", "local"]), "no", Immutable),
        p("enable-module-command", Enum(&["no", "yes", "local"]), "no", Fixed),
        p("latency-monitor-threshold", Int(0, i64::MAX), "0", Live),
        p("latency-tracking", Bool, "yes", Tunable),
        p("latency-tracking-info-percentiles", Str, "50 99 99.9", Tunable),
        pa("busy-reply-threshold", "lua-time-limit", I64, "5000", Live),
        p("shutdown-timeout", I32, "10", Tunable),
        // Hidden: debugging and test knobs of loading, saving and crashing.
        // `key-load-delay` slows loading as Redis's does (loading.rs); the
        // others kevy does not do.
        ph("key-load-delay", Int(i32::MIN as i64, i32::MAX as i64), "0", Live),
        ph("rdb-key-save-delay", Int(i32::MIN as i64, i32::MAX as i64), "0", Tunable),
        ph("loading-process-events-interval-bytes", Int(1024, i32::MAX as i64), "2097152", Tunable),
        ph("use-exit-on-panic", Bool, "no", Tunable),
        // kevy's own: load an append-only log up to a damaged record in
        // the middle of a file (discarding what follows) instead of
        // refusing to start. Read at start-up.
        ph("aof-load-corrupt", Bool, "no", Tunable),
        ph("watchdog-period", I32, "0", Fixed),
        ph("lua-enable-deprecated-api", Bool, "no", Immutable),
        // kevy's own: reactor threads and the cores they are pinned to
        // (`--cores`, `--shards`; 0: one per available core).
        ph("cores", Int(0, 1024), "0", Immutable),
        ph("shards", Int(0, 1024), "0", Immutable),
        // kevy's own: a shard that does not get its core hands connections
        // to one that does (`churn`: every 10 ms whatever the load, for
        // tests). kevy-rt's crate doc has the rule.
        ph("shard-balance", Enum(&["yes", "no", "churn"]), "yes", Live),
        // kevy's own: µs a shard serving lone requests polls for the next
        // before it sleeps (0: never). kevy-rt's crate doc, "Sleeping and
        // waking".
        ph("idle-poll-us", Int(0, 1000), "50", Live),
    ]
};

/// Redis's cpulist syntax (`server_cpulist`, `bio_cpulist`, …): CPUs and
/// ranges separated by commas, a range with an optional step, as in
/// `0-7:2,9` (0, 2, 4, 6 and 9). `None` when empty or malformed.
pub fn parse_cpulist(list: &str) -> Option<Vec<usize>> {
    fn num(s: &str) -> Option<usize> {
        if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (range, step) = match part.split_once(':') {
            Some((range, step)) => (range, num(step).filter(|&n| n > 0)?),
            None => (part, 1),
        };
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(range)?, num(range)?),
        };
        if first > last {
            return None;
        }
        cpus.extend((first..=last).step_by(step));
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

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
        "client-query-buffer-limit" if value.parse::<u64>().is_ok_and(|n| n < 1 << 20) => {
            Err("argument must be between 1048576 and 9223372036854775807 inclusive".into())
        }
        "activedefrag" if value == "yes" => Err("Active defragmentation cannot be enabled: it \
             requires a Redis server compiled with a modified Jemalloc like the one shipped by \
             default with the Redis source distribution"
            .into()),
        _ => Ok(()),
    }
}

/// The value kept for a valid one, where Redis adjusts it: `hz` is
/// brought within 1 to 500, and `client-output-buffer-limit` changes the
/// classes it names in the `current` value.
pub fn settle(name: &str, v: String, current: impl FnOnce() -> String) -> String {
    match name {
        "hz" => v.parse::<i64>().map_or(v, |n| n.clamp(1, 500).to_string()),
        "client-output-buffer-limit" => merge_output_limits(&current(), &v),
        _ => v,
    }
}

/// What CONFIG SET checks beyond the value itself: a `maxclients` the
/// process's open-files limit cannot hold is refused with the number it
/// could, as Redis does (raising the limit first when it can).
pub fn check_live(server: &Server, name: &str, value: &str) -> Result<(), String> {
    if name != "maxclients" {
        return Ok(());
    }
    let Ok(want) = value.parse::<u64>() else {
        return Ok(());
    };
    let reserved = reserved_fds(server.config.shards);
    let got = kevy_sys::process::raise_open_files_limit(want + reserved)
        .or_else(|_| kevy_sys::process::open_files_limit().map(|(cur, _)| cur))
        .unwrap_or(u64::MAX);
    if got < want + reserved {
        return Err(format!(
            "The operating system is not able to handle the specified number of clients, try with {}",
            got.saturating_sub(reserved)
        ));
    }
    Ok(())
}

/// File descriptors the server keeps besides its clients' (Redis's
/// `CONFIG_MIN_RESERVED_FDS`, plus each shard's listeners, epoll and
/// eventfd).
pub fn reserved_fds(shards: usize) -> u64 {
    32 + 4 * shards as u64
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
                crate::log!(Warning, "cannot change directory to {value}: {e}");
            }
        }
        "latency-monitor-threshold" => {
            if let Ok(ms) = value.parse() {
                server.latency.set_threshold_ms(ms);
                server.cmdstats.set_latency_threshold(ms);
            }
        }
        "slowlog-log-slower-than" => {
            if let Ok(us) = value.parse() {
                server.cmdstats.set_slower_than(us);
            }
        }
        "client-output-buffer-limit" => set_pubsub_limit(output_limits(value)[2]),
        "appendfsync" => crate::aof::set_fsync(value),
        "key-load-delay" => {
            if let Ok(us) = value.parse() {
                crate::loading::set_key_delay(us);
            }
        }
        "requirepass" => crate::acl::set_requirepass(value),
        "protected-mode" => crate::acl::set_protected_mode(value == "yes"),
        "acl-pubsub-default" => crate::acl::set_pubsub_default(value == "allchannels"),
        "acllog-max-len" => {
            if let Ok(n) = value.parse() {
                crate::acl::set_log_max(n);
            }
        }
        "timeout"
        | "tcp-keepalive"
        | "maxclients"
        | "client-query-buffer-limit"
        | "hz"
        | "shard-balance"
        | "idle-poll-us" => server.limits.set(limit_values()),
        "loglevel" => {
            if let Some(l) = crate::log::Level::parse(value) {
                crate::log::set_level(l);
            }
        }
        "notify-keyspace-events" => {
            crate::notify::configure(crate::notify::parse(value.as_bytes()).unwrap_or(0))
        }
        "busy-reply-threshold" => {
            if let Ok(ms) = value.parse() {
                server.scripts.set_busy_threshold(ms);
            }
        }
        "hll-sparse-max-bytes" => crate::families::hyperloglog::set_sparse_max_bytes(value),
        "stream-node-max-bytes" | "stream-node-max-entries" => {
            crate::families::streams::apply_setting(name, value)
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
    AtomicU64::new(kevy_rt::OutputLimit::PUBSUB_DEFAULT.hard as u64),
    AtomicU64::new(kevy_rt::OutputLimit::PUBSUB_DEFAULT.soft as u64),
    AtomicU64::new(kevy_rt::OutputLimit::PUBSUB_DEFAULT.soft_secs),
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

/// `client-output-buffer-limit`'s classes, in the order Redis keeps,
/// shows and rewrites them.
pub const OUTPUT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// The limits of each of [`OUTPUT_CLASSES`].
pub type OutputLimits = [kevy_rt::OutputLimit; 3];

/// `client-output-buffer-limit`'s value, as Redis's
/// `setConfigClientOutputBufferLimitOption` reads it: words separated by
/// single spaces (`a  b` has an empty word between, an empty value has
/// none), in groups of a class (`normal`, `slave` or `replica`, `pubsub`),
/// a hard and a soft limit (memory values, see [`parse_memory`]) and the
/// soft limit's seconds (`strtoll` cut to an `int`, at least 0). The
/// limits of each class the value names, later groups winning.
pub fn parse_output_limits(v: &str) -> Result<[Option<kevy_rt::OutputLimit>; 3], String> {
    let words: Vec<&str> = if v.is_empty() {
        Vec::new()
    } else {
        v.split(' ').collect()
    };
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut out = [None; 3];
    for g in words.chunks_exact(4) {
        let class = match g[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(g[1].as_bytes());
        let soft = parse_memory(g[2].as_bytes());
        let secs = soft_seconds(g[3].as_bytes());
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        out[class] = Some(kevy_rt::OutputLimit {
            hard: hard as usize,
            soft: soft as usize,
            soft_secs: secs,
        });
    }
    Ok(out)
}

/// The soft limit's seconds as Redis reads them: C's `strtoll` over the
/// whole word (leading white space and a sign allowed, saturating past
/// 64 bits; an empty word is 0), kept in an `int`, refused below 0.
fn soft_seconds(w: &[u8]) -> Option<u64> {
    // C's isspace, which counts the vertical tab that Rust's ASCII
    // white space leaves out.
    let start = w
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(w.len());
    let body = &w[start..];
    let (neg, digits) = match body.first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        // No digits: strtoll converts nothing and its end is the word's
        // start, which is its end only when the word is empty.
        return w.is_empty().then_some(0);
    }
    let magnitude = digits.iter().fold(0u128, |acc, d| {
        (acc * 10 + u128::from(d - b'0')).min(1 << 64)
    });
    let n: i64 = if neg {
        (-(magnitude as i128)).max(i64::MIN as i128) as i64
    } else {
        magnitude.min(i64::MAX as u128) as i64
    };
    let secs = n as i32;
    (secs >= 0).then_some(secs as u64)
}

/// `current`'s limits with those `value` sets put over them: the form a
/// valid value is kept in and CONFIG GET shows, every class named.
pub fn merge_output_limits(current: &str, value: &str) -> String {
    OUTPUT_CLASSES
        .iter()
        .zip(overlay(output_limits(current), value))
        .map(|(class, l)| format!("{class} {} {} {}", l.hard, l.soft, l.soft_secs))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The limits of every class in a kept value ([`merge_output_limits`]'s
/// form), a class it does not name at Redis's default.
pub fn output_limits(kept: &str) -> OutputLimits {
    overlay(DEFAULT_OUTPUT_LIMITS, kept)
}

/// `limits` with those of the classes a valid `value` names replaced.
fn overlay(mut limits: OutputLimits, value: &str) -> OutputLimits {
    if let Ok(given) = parse_output_limits(value) {
        for (slot, new) in limits.iter_mut().zip(given) {
            if let Some(new) = new {
                *slot = new;
            }
        }
    }
    limits
}

/// Redis's `clientBufferLimitsDefaults`.
pub const DEFAULT_OUTPUT_LIMITS: OutputLimits = [
    kevy_rt::OutputLimit {
        hard: 0,
        soft: 0,
        soft_secs: 0,
    },
    kevy_rt::OutputLimit {
        hard: 256 << 20,
        soft: 64 << 20,
        soft_secs: 60,
    },
    kevy_rt::OutputLimit::PUBSUB_DEFAULT,
];

/// Parameters that take several words (`bind 127.0.0.1 ::1`): one
/// argument in the file or on the command line is split as a line would be.
const MULTI_ARG: &[&str] = &[
    "save",
    "bind",
    "client-output-buffer-limit",
    "oom-score-adj-values",
    "latency-tracking-info-percentiles",
    // `replicaof <host> <port>`: two words in the file, refused whole.
    "replicaof",
];

/// Immutable parameters whose other values make the server something
/// kevy is not (a cluster node, a replica, an upstart job): refused in
/// the file and on the command line, with the values that are accepted.
const REFUSED_AT_STARTUP: &[(&str, &[&str])] = &[
    ("cluster-enabled", &["no"]),
    ("replicaof", &[""]),
    ("supervised", &["no", "auto", "systemd"]),
];

/// Directives Redis 7 still accepts and ignores.
const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// What reading the configuration gathers besides parameter values.
#[derive(Default, Debug)]
pub struct Loaded {
    /// `rename-command` lines (the command, its new name; empty:
    /// removed), applied once the command table exists.
    pub renames: Vec<crate::conf::Directive>,
    /// A `save` line was read: the next ones add save points.
    save_seen: bool,
}

/// Applies one configuration line (from the file or a `--flag`) as Redis's
/// `loadServerConfigFromString` does, before the server starts: the
/// value is checked and kept; what it drives is applied by
/// [`apply_startup`] and [`apply_all`]. The error is Redis's wording.
pub fn load_directive(d: &crate::conf::Directive, loaded: &mut Loaded) -> Result<(), String> {
    let args = &d.args;
    let name = args[0].as_str();
    if DEPRECATED.contains(&name) {
        return Ok(());
    }
    if name == "rename-command" && args.len() == 3 {
        loaded.renames.push(d.clone());
        return Ok(());
    }
    // `user` lines (and `--user` flags) may repeat: one user each. One
    // argument (`--user "alice on >pw"`) is a whole rule line; several
    // go back quoted, so a password with spaces stays one word.
    if name.eq_ignore_ascii_case("user") {
        if args.len() == 2 {
            return crate::acl::apply_user_line(&args[1]);
        }
        let line: Vec<String> = args[1..]
            .iter()
            .map(|w| format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        return crate::acl::apply_user_line(&line.join(" "));
    }
    let Some(p) = find_param(name.as_bytes()) else {
        return Err("Bad directive or wrong number of arguments".into());
    };
    let multi = MULTI_ARG.contains(&p.name);
    if !multi && args.len() != 2 {
        return Err("wrong number of arguments".into());
    }
    let words: Vec<String> = if multi && args.len() == 2 && !args[1].is_empty() {
        crate::conf::split_args(args[1].as_bytes())
            .unwrap_or_default()
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    } else {
        args[1..].to_vec()
    };
    let mut value = words.join(" ");
    if p.name == "save" {
        if words.len() == 1 && words[0].is_empty() {
            value.clear();
        }
        // Save points accumulate over lines; the first line replaces the
        // defaults.
        let v = normalize(p.kind, value.as_bytes())?;
        let mut rt = runtime();
        let value = match rt.overrides.iter().find(|(n, _)| *n == "save") {
            Some((_, old)) if loaded.save_seen && !old.is_empty() && !v.is_empty() => {
                format!("{old} {v}")
            }
            _ => v,
        };
        loaded.save_seen = true;
        set_override(&mut rt, "save", value);
        return Ok(());
    }
    let v = normalize(p.kind, value.as_bytes()).and_then(|v| check(p.name, &v).map(|()| v))?;
    let mut rt = runtime();
    let v = settle(p.name, v, || {
        match rt.overrides.iter().find(|(n, _)| *n == p.name) {
            Some((_, kept)) => kept.clone(),
            None => default_value(p),
        }
    });
    if REFUSED_AT_STARTUP
        .iter()
        .any(|&(n, ok)| n == p.name && !ok.contains(&v.as_str()))
    {
        return Err(format!("'{} {value}' is not supported by kevy", p.name));
    }
    if p.policy == Policy::Fixed {
        let current = default_value(p);
        if normalize(p.kind, current.as_bytes()).map_or(true, |c| c != v) {
            return Err(format!("'{} {value}' is not supported by kevy", p.name));
        }
        return Ok(());
    }
    if p.name == "dir" {
        // As Redis: the working directory changes while the file is read,
        // so later relative paths are relative to it.
        std::env::set_current_dir(&v).map_err(|e| crate::conf::os_reason(&e))?;
    }
    set_override(&mut rt, p.name, v);
    Ok(())
}

/// The absolute path of the config file the server started with.
static CONFIG_FILE: Mutex<Option<std::path::PathBuf>> = Mutex::new(None);

pub fn set_config_file(path: Option<std::path::PathBuf>) {
    *CONFIG_FILE.lock().unwrap_or_else(|e| e.into_inner()) = path;
}

/// The config file CONFIG REWRITE writes, if the server was given one.
pub fn config_file() -> Option<std::path::PathBuf> {
    CONFIG_FILE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Sets a parameter's value as the server decides it (a limit the system
/// lowered), checked like a CONFIG SET value but with no effect applied.
pub fn set_value(name: &str, value: &str) -> Result<(), String> {
    let p = find_param(name.as_bytes()).ok_or("no such parameter")?;
    let v = normalize(p.kind, value.as_bytes())?;
    set_override(&mut runtime(), p.name, v);
    Ok(())
}

fn set_override(rt: &mut Runtime, name: &'static str, v: String) {
    match rt.overrides.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = v,
        None => rt.overrides.push((name, v)),
    }
}

/// Applies what the process itself needs before the server exists: the
/// log's level, file and syslog.
pub fn apply_startup() {
    let get = |n: &str| current(n).unwrap_or_default();
    if let Some(l) = crate::log::Level::parse(&get("loglevel")) {
        crate::log::set_level(l);
    }
    crate::log::set_file(&get("logfile"));
    if get("syslog-enabled") == "yes" {
        crate::log::enable_syslog(&get("syslog-ident"), &get("syslog-facility"));
    }
}

/// Applies every value read at start-up that has a live effect.
pub fn apply_all(server: &Server) {
    let values: Vec<(&'static str, String)> = runtime().overrides.clone();
    for (name, v) in values {
        if name != "dir" {
            apply_live(server, name, &v);
        }
    }
}

/// The run-time limits as the settings give them.
pub fn limit_values() -> kevy_rt::LimitValues {
    let num = |n: &str| current(n).and_then(|v| v.parse::<u64>().ok());
    let d = kevy_rt::LimitValues::default();
    kevy_rt::LimitValues {
        maxclients: num("maxclients").unwrap_or(d.maxclients),
        timeout_secs: num("timeout").unwrap_or(d.timeout_secs),
        keepalive_secs: num("tcp-keepalive")
            .map_or(d.keepalive_secs, |v| v.min(u32::MAX as u64) as u32),
        query_buf: num("client-query-buffer-limit").map_or(d.query_buf, |v| v as usize),
        hz: num("hz").map_or(d.hz, |v| v.clamp(1, 500) as u32),
        balance: match current("shard-balance").as_deref() {
            Some("no") => kevy_rt::Balance::No,
            Some("churn") => kevy_rt::Balance::Churn,
            _ => kevy_rt::Balance::Yes,
        },
        idle_poll_us: num("idle-poll-us").map_or(d.idle_poll_us, |v| v.min(1000) as u32),
    }
}

/// `bind`'s addresses for the listeners: `*` is every IPv4 address, `::*`
/// every IPv6 one, a `-` in front makes an address optional.
pub fn parse_bind(v: &str, port: u16) -> Result<Vec<kevy_rt::Listen>, String> {
    let mut out = Vec::new();
    for w in v.split_ascii_whitespace() {
        let (optional, a) = match w.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, w),
        };
        let ip: std::net::IpAddr = match a {
            "*" => std::net::Ipv4Addr::UNSPECIFIED.into(),
            "::*" => std::net::Ipv6Addr::UNSPECIFIED.into(),
            _ => a
                .parse()
                .map_err(|_| format!("Invalid bind address '{a}'"))?,
        };
        out.push(kevy_rt::Listen {
            addr: std::net::SocketAddr::new(ip, port),
            optional,
        });
    }
    if out.len() > 16 {
        return Err("Too many bind addresses specified.".into());
    }
    Ok(out)
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
        _ => default_value(p),
    }
}

/// The value of a parameter nothing has set: its default, or the
/// process's own fact for `dir` and `proto-max-bulk-len`.
pub fn default_value(p: &Param) -> String {
    match p.name {
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
        Kind::Octal(hi) => {
            let n = std::str::from_utf8(v)
                .ok()
                .and_then(|t| i64::from_str_radix(t, 8).ok())
                .ok_or("argument couldn't be parsed into an integer")?;
            if !(0..=hi).contains(&n) {
                return Err(format!("argument must be between 0 and {hi} inclusive"));
            }
            Ok(format!("{n:o}"))
        }
        Kind::Bind => {
            let words: Vec<&str> = text.split_ascii_whitespace().collect();
            parse_bind(&text, 0)?;
            Ok(words.join(" "))
        }
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
/// `g` or `gb` suffix (any case; `k` is 1000, `kb` 1024). As there, the
/// digits saturate at 2^64 - 1 (`strtoull`), the suffix's product wraps,
/// no digits is 0, and 128 digits or more are refused.
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
    if digits.len() >= 128 {
        return None;
    }
    let n = digits.iter().fold(0u64, |acc, d| {
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(d - b'0')))
            .unwrap_or(u64::MAX)
    });
    Some(n.wrapping_mul(mul))
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

#[cfg(test)]
mod cpulist_tests {
    use super::parse_cpulist;

    #[test]
    fn cpulists_read_as_redis_reads_them() {
        assert_eq!(parse_cpulist("3"), Some(vec![3]));
        assert_eq!(parse_cpulist("0-3"), Some(vec![0, 1, 2, 3]));
        assert_eq!(parse_cpulist("0-7:2,9"), Some(vec![0, 2, 4, 6, 9]));
        assert_eq!(parse_cpulist("4,1-2,2"), Some(vec![1, 2, 4]));
        for bad in [
            "", "a", "3-1", "1-", "-1", "1:0", "1-3:", "+1", "1,,2", "1 ", "99999",
        ] {
            assert_eq!(parse_cpulist(bad), None, "{bad:?}");
        }
    }
}

#[cfg(test)]
mod output_limit_tests {
    use super::{merge_output_limits, parse_output_limits, soft_seconds};

    #[test]
    fn soft_seconds_read_as_strtoll_into_an_int() {
        for (word, want) in [
            ("60", Some(60)),
            ("+1", Some(1)),
            ("-0", Some(0)),
            ("\t7", Some(7)),
            ("\x0b\n 8", Some(8)),
            ("", Some(0)),
            ("4294967296", Some(0)),
            ("4294967297", Some(1)),
            ("-4294967296", Some(0)),
            ("2147483647", Some(2147483647)),
            ("2147483648", None),
            ("9223372036854775807", None),
            ("99999999999999999999", None),
            ("-99999999999999999999", Some(0)),
            ("-1", None),
            ("1.5", None),
            ("0x1", None),
            ("1\t", None),
            ("+", None),
            ("\t", None),
        ] {
            assert_eq!(soft_seconds(word.as_bytes()), want, "{word:?}");
        }
    }

    #[test]
    fn values_merge_over_the_current_classes() {
        let default = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
        assert_eq!(
            merge_output_limits(default, "pubsub 1k 1KB 5 REPLICA 1 2 3"),
            "normal 0 0 0 slave 1 2 3 pubsub 1000 1024 5"
        );
        assert_eq!(
            merge_output_limits(default, "pubsub 1 1 1 pubsub 2 2 2"),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 2 2 2"
        );
        assert_eq!(merge_output_limits(default, ""), default);
        for bad in [
            "pubsub  1 1 1",
            " pubsub 1 1 1",
            "pubsub 1 1 1 ",
            "pubsub\t1 1 1",
            "master 1 1 1",
            "pubsub 1 1 1 other 1 1 1",
            "pubsub x 1 1 normal 1 1 1",
        ] {
            assert!(parse_output_limits(bad).is_err(), "{bad:?}");
        }
    }
}
