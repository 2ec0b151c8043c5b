//! The Prometheus page the metrics endpoint serves (`--metrics-port`, off
//! by default; kevy-rt's `reactor/metrics.rs` serves it over HTTP from
//! shard 0's reactor). Text exposition format 0.0.4: every family has its
//! `# HELP` and `# TYPE`, counters end in `_total`, and each command's
//! latency is a histogram in seconds.
//!
//! Everything here is read from what the shards already publish (relaxed
//! atomics, the execution point's per-command counters and histograms), so
//! a scrape costs the shards nothing; counters are read raw, not since
//! CONFIG RESETSTAT, so they only go up.

use crate::server::{Server, DATABASES};
use crate::settings::Counters;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

/// Upper bounds of the command latency histogram, in seconds: powers of
/// two from 1 µs to about 1 s.
const LATENCY_BOUNDS_US: [u64; 21] = [
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072,
    262144, 524288, 1048576,
];

struct Page {
    out: String,
}

impl Page {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A label value as the format wants it: backslash, quote and newline
/// escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole page.
pub fn render(server: &Server) -> Vec<u8> {
    let mut p = Page { out: String::new() };
    let rt = &server.rt_stats;
    let c = Counters::read(server);
    p.family(
        "kevy_build_info",
        "gauge",
        "Version of kevy and of the Redis protocol it speaks.",
    );
    p.sample(
        "kevy_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("redis_version", crate::families::common::REDIS_VERSION),
        ],
        1,
    );
    let uptime = kevy_sys::clock::monotonic_ms().saturating_sub(server.start_mono_ms) / 1000;
    p.one(
        "kevy_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        uptime,
    );
    p.one(
        "kevy_shards",
        "gauge",
        "Shards (reactor threads).",
        server.config.shards,
    );

    // Clients and traffic.
    let connected = rt.sum(|s| &s.connected_clients);
    p.one(
        "kevy_connected_clients",
        "gauge",
        "Client connections open.",
        connected,
    );
    p.one(
        "kevy_blocked_clients",
        "gauge",
        "Clients waiting in a blocking command.",
        rt.sum(|s| &s.blocked_clients),
    );
    p.one(
        "kevy_connections_received_total",
        "counter",
        "Connections accepted.",
        c.connections,
    );
    p.one(
        "kevy_rejected_connections_total",
        "counter",
        "Connections refused at the client limit.",
        c.rejected,
    );
    p.one(
        "kevy_net_input_bytes_total",
        "counter",
        "Bytes read from clients.",
        c.net_in,
    );
    p.one(
        "kevy_net_output_bytes_total",
        "counter",
        "Bytes written to clients.",
        c.net_out,
    );
    p.family(
        "kevy_shard_commands_processed_total",
        "counter",
        "Commands dispatched by each shard's reactor.",
    );
    for (i, s) in rt.shards.iter().enumerate() {
        let shard = i.to_string();
        p.sample(
            "kevy_shard_commands_processed_total",
            &[("shard", &shard)],
            s.total_commands.load(Relaxed),
        );
    }
    p.family(
        "kevy_shard_connected_clients",
        "gauge",
        "Client connections open on each shard.",
    );
    for (i, s) in rt.shards.iter().enumerate() {
        let shard = i.to_string();
        p.sample(
            "kevy_shard_connected_clients",
            &[("shard", &shard)],
            s.connected_clients.load(Relaxed),
        );
    }
    p.one(
        "kevy_pubsub_channels",
        "gauge",
        "Channels with at least one subscriber.",
        rt.pubsub[0].load(Relaxed),
    );
    p.one(
        "kevy_pubsub_patterns",
        "gauge",
        "Patterns with at least one subscriber.",
        rt.pubsub[1].load(Relaxed),
    );

    // Memory.
    let alloc = kevy_sys::alloc::stats();
    p.one(
        "kevy_memory_used_bytes",
        "gauge",
        "Bytes allocated and not freed (INFO used_memory).",
        alloc.allocated,
    );
    p.one(
        "kevy_memory_dataset_bytes",
        "gauge",
        "Bytes the keyspaces account for (INFO used_memory_dataset).",
        server.sum_published(|s| &s.used_memory),
    );
    p.one(
        "kevy_memory_allocator_resident_bytes",
        "gauge",
        "Bytes the allocator holds resident.",
        alloc.resident,
    );

    // Keyspace.
    p.family(
        "kevy_keyspace_keys",
        "gauge",
        "Keys in each non-empty database.",
    );
    let mut expiring = Vec::new();
    for db in 0..DATABASES {
        let (keys, expires) = server.db_counts(db);
        if keys > 0 {
            let d = db.to_string();
            p.sample("kevy_keyspace_keys", &[("db", &d)], keys);
            expiring.push((d, expires));
        }
    }
    p.family(
        "kevy_keyspace_expiring_keys",
        "gauge",
        "Keys with a time to live in each non-empty database.",
    );
    for (d, n) in &expiring {
        p.sample("kevy_keyspace_expiring_keys", &[("db", d)], n);
    }
    p.one(
        "kevy_keyspace_hits_total",
        "counter",
        "Reads that found their key.",
        c.hits,
    );
    p.one(
        "kevy_keyspace_misses_total",
        "counter",
        "Reads that found no key.",
        c.misses,
    );
    p.one(
        "kevy_expired_keys_total",
        "counter",
        "Keys removed because their time to live ran out.",
        c.expired,
    );

    // Persistence.
    let persist = &server.persist;
    let dirty = server.sum_published(|s| &s.dirty);
    p.one(
        "kevy_rdb_changes_since_last_save",
        "gauge",
        "Writes since the last snapshot.",
        dirty.saturating_sub(persist.saved_dirty.load(Relaxed)),
    );
    p.one(
        "kevy_rdb_last_save_timestamp_seconds",
        "gauge",
        "Unix time of the last successful snapshot (start-up before the first).",
        crate::families::common::last_save(server),
    );
    p.one(
        "kevy_rdb_saving",
        "gauge",
        "1 while a snapshot is being written.",
        persist.in_progress.load(Relaxed) as u8,
    );
    p.one(
        "kevy_aof_enabled",
        "gauge",
        "1 when the append-only log is on.",
        server.rewrites.enabled.load(Relaxed) as u8,
    );
    p.one(
        "kevy_aof_size_bytes",
        "gauge",
        "Bytes of the append-only log files.",
        server.sum_published(|s| &s.aof_current_size),
    );

    // Commands.
    let table = &server.table;
    let stats = &server.cmdstats;
    let used: Vec<u16> = (0..table.stat_slots() as u16)
        .filter(|&s| {
            let t = stats.totals(s);
            t.calls + t.rejected + t.failed > 0
        })
        .collect();
    p.family("kevy_commands_total", "counter", "Calls of each command.");
    for &s in &used {
        p.sample(
            "kevy_commands_total",
            &[("cmd", table.slot_name(s))],
            stats.totals(s).calls,
        );
    }
    p.family(
        "kevy_commands_rejected_total",
        "counter",
        "Calls of each command refused before they ran.",
    );
    for &s in &used {
        p.sample(
            "kevy_commands_rejected_total",
            &[("cmd", table.slot_name(s))],
            stats.totals(s).rejected,
        );
    }
    p.family(
        "kevy_commands_failed_total",
        "counter",
        "Calls of each command that answered an error.",
    );
    for &s in &used {
        p.sample(
            "kevy_commands_failed_total",
            &[("cmd", table.slot_name(s))],
            stats.totals(s).failed,
        );
    }
    p.family(
        "kevy_command_duration_seconds",
        "histogram",
        "Time each command took to run at its execution point.",
    );
    let bounds_ns: Vec<u64> = LATENCY_BOUNDS_US.iter().map(|us| us * 1000).collect();
    for &s in &used {
        let Some((cum, count)) = stats.cumulative_at(s, &bounds_ns) else {
            continue;
        };
        let name = table.slot_name(s);
        for (us, n) in LATENCY_BOUNDS_US.iter().zip(&cum) {
            let le = format!("{}", *us as f64 / 1e6);
            p.sample(
                "kevy_command_duration_seconds_bucket",
                &[("cmd", name), ("le", &le)],
                n,
            );
        }
        p.sample(
            "kevy_command_duration_seconds_bucket",
            &[("cmd", name), ("le", "+Inf")],
            count,
        );
        let secs = stats.totals(s).usec as f64 / 1e6;
        p.sample("kevy_command_duration_seconds_sum", &[("cmd", name)], secs);
        p.sample(
            "kevy_command_duration_seconds_count",
            &[("cmd", name)],
            count,
        );
    }
    p.family(
        "kevy_errors_total",
        "counter",
        "Error replies by kind (the error's first word).",
    );
    for (kind, n) in stats.errors() {
        p.sample("kevy_errors_total", &[("kind", &kind)], n);
    }
    p.out.into_bytes()
}
