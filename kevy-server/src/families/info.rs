//! The INFO family: the sections Redis prints, read from the counters the
//! reactors and shards publish and from the settings CONFIG changed.

use super::common::{conn_spec, last_save, REDIS_VERSION};
use crate::ctx::ConnCtx;
use crate::server::{Server, DATABASES};
use crate::settings::{find_param, param_value, runtime, Counters, Runtime};
use crate::table::{flag, Table};
use kevy_rt::ConnAction;
use std::fmt::Write as _;
use std::sync::OnceLock;

pub fn register(t: &mut Table) {
    use flag::*;
    t.add(conn_spec(
        "info",
        -1,
        LOADING | STALE,
        &["@slow", "@dangerous"],
        cmd_info,
    ));
}

/// INFO's sections in the order Redis prints them: name, title, and
/// whether the section is in the default set.
const SECTIONS: &[(&str, &str, bool)] = &[
    ("server", "Server", true),
    ("clients", "Clients", true),
    ("memory", "Memory", true),
    ("persistence", "Persistence", true),
    ("stats", "Stats", true),
    ("replication", "Replication", true),
    ("cpu", "CPU", true),
    ("modules", "Modules", true),
    ("commandstats", "Commandstats", false),
    ("errorstats", "Errorstats", true),
    ("latencystats", "Latencystats", false),
    ("cluster", "Cluster", true),
    ("keyspace", "Keyspace", true),
];

fn cmd_info(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let mut want = [false; SECTIONS.len()];
    if ctx.args.len() == 1 {
        for (w, (_, _, default)) in want.iter_mut().zip(SECTIONS) {
            *w = *default;
        }
    }
    for arg in ctx.args.iter().skip(1) {
        let all = arg.eq_ignore_ascii_case(b"all") || arg.eq_ignore_ascii_case(b"everything");
        let default = arg.eq_ignore_ascii_case(b"default");
        for (w, (name, _, is_default)) in want.iter_mut().zip(SECTIONS) {
            *w |= all || (default && *is_default) || name.as_bytes().eq_ignore_ascii_case(arg);
        }
    }
    // The shard INFO runs on counts its keys as they are now, so a
    // script's own writes show.
    let text = info_text(ctx.server, &want, ctx.shard);
    ctx.out.verbatim(b"txt", text.as_bytes());
    ConnAction::Continue
}

/// The INFO text for the selected sections, `\r\n`-separated as Redis
/// writes it.
fn info_text(server: &Server, want: &[bool], live: &crate::shard::Shard) -> String {
    let mut s = String::new();
    let rt = runtime();
    let counters = Counters::read(server).since(rt.baseline);
    for ((name, title, _), _) in SECTIONS.iter().zip(want).filter(|(_, w)| **w) {
        if !s.is_empty() {
            s.push_str("\r\n");
        }
        let _ = write!(s, "# {title}\r\n");
        let mut f = Fields(&mut s);
        match *name {
            "server" => info_server(server, &rt, &mut f),
            "clients" => info_clients(server, &rt, &mut f),
            "memory" => info_memory(server, &rt, &mut f),
            "persistence" => info_persistence(server, &mut f),
            "stats" => info_stats(server, &counters, &mut f),
            "replication" => info_replication(server, &mut f),
            "cpu" => info_cpu(&mut f),
            "cluster" => f.put("cluster_enabled", 0),
            "keyspace" => info_keyspace(server, live, &mut f),
            "commandstats" => info_commandstats(server, &mut f),
            "errorstats" => info_errorstats(server, &mut f),
            "latencystats" => info_latencystats(server, &rt, &mut f),
            // Modules: none, so the section has its header only.
            _ => {}
        }
    }
    s
}

/// Appends `name:value\r\n` lines.
struct Fields<'a>(&'a mut String);

impl Fields<'_> {
    fn put(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = write!(self.0, "{name}:{value}\r\n");
    }
}

/// Facts about the process and machine that never change while it runs.
struct Host {
    os: String,
    executable: String,
    total_memory: u64,
}

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let ostype = read("/proc/sys/kernel/ostype");
        let release = read("/proc/sys/kernel/osrelease");
        let ostype = match ostype.trim() {
            "" => std::env::consts::OS,
            t => t,
        };
        Host {
            os: format!("{} {} {}", ostype, release.trim(), std::env::consts::ARCH),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            total_memory: proc_kb("/proc/meminfo", "MemTotal:") * 1024,
        }
    })
}

/// A `Name: N kB` line of a /proc file, in kB (0 when absent).
fn proc_kb(path: &str, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn uptime_secs(server: &Server) -> u64 {
    kevy_sys::clock::monotonic_ms().saturating_sub(server.start_mono_ms) / 1000
}

fn config_i64(server: &Server, rt: &Runtime, name: &str) -> i64 {
    find_param(name.as_bytes())
        .and_then(|p| param_value(server, p, rt).parse().ok())
        .unwrap_or(0)
}

fn info_server(server: &Server, rt: &Runtime, f: &mut Fields<'_>) {
    let h = host();
    let unix_us = kevy_sys::clock::unix_us();
    let up = uptime_secs(server);
    f.put("redis_version", REDIS_VERSION);
    f.put("redis_git_sha1", "00000000");
    f.put("redis_git_dirty", 0);
    f.put("redis_build_id", "0");
    f.put("redis_mode", "standalone");
    f.put("os", &h.os);
    f.put("arch_bits", usize::BITS);
    f.put("monotonic_clock", "POSIX clock_gettime");
    f.put("multiplexing_api", "epoll");
    f.put("atomicvar_api", "c11-builtin");
    f.put("gcc_version", "0.0.0");
    f.put("process_id", std::process::id());
    // `rt` is the settings' lock, held: read through it.
    let supervised = crate::settings::find_param(b"supervised")
        .map(|p| crate::settings::param_value(server, p, rt))
        .unwrap_or_default();
    let by_systemd = matches!(supervised.as_str(), "systemd" | "auto")
        && std::env::var_os("NOTIFY_SOCKET").is_some();
    f.put(
        "process_supervised",
        if by_systemd { "systemd" } else { "no" },
    );
    f.put("run_id", &server.run_id);
    f.put("tcp_port", server.config.port);
    f.put("server_time_usec", unix_us);
    f.put("uptime_in_seconds", up);
    f.put("uptime_in_days", up / 86400);
    // The rate the reactors tick at (`hz`, kept within 1..500).
    f.put("hz", server.limits.get().hz);
    f.put("configured_hz", config_i64(server, rt, "hz"));
    f.put("lru_clock", (unix_us / 1_000_000) & ((1 << 24) - 1));
    f.put("executable", &h.executable);
    let config_file = crate::settings::config_file()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    f.put("config_file", &config_file);
    f.put("io_threads_active", 0);
    f.put("kevy_version", env!("CARGO_PKG_VERSION"));
    f.put("kevy_shards", server.config.shards);
}

fn info_clients(server: &Server, rt: &Runtime, f: &mut Fields<'_>) {
    f.put(
        "connected_clients",
        server.rt_stats.sum(|s| &s.connected_clients),
    );
    f.put("cluster_connections", 0);
    f.put("maxclients", config_i64(server, rt, "maxclients"));
    f.put("client_recent_max_input_buffer", 0);
    f.put("client_recent_max_output_buffer", 0);
    f.put(
        "blocked_clients",
        server.rt_stats.sum(|s| &s.blocked_clients),
    );
    f.put("tracking_clients", server.tracking.clients());
    f.put(
        "clients_in_timeout_table",
        server.rt_stats.sum(|s| &s.timed_clients),
    );
}

fn info_memory(server: &Server, rt: &Runtime, f: &mut Fields<'_>) {
    // Redis's used_memory is what its allocator says is allocated; so is
    // kevy's, over every thread (not only what the keyspaces account for).
    let alloc = kevy_sys::alloc::stats();
    let used = alloc.allocated;
    let dataset = server.sum_published(|p| &p.used_memory);
    let peak = crate::evict::peak(used);
    let rss = proc_kb("/proc/self/status", "VmRSS:") * 1024;
    let total = host().total_memory;
    let maxmemory = config_i64(server, rt, "maxmemory").max(0) as u64;
    let policy =
        find_param(b"maxmemory-policy").map_or_else(String::new, |p| param_value(server, p, rt));
    f.put("used_memory", used);
    f.put("used_memory_human", bytes_to_human(used));
    f.put("used_memory_rss", rss);
    f.put("used_memory_rss_human", bytes_to_human(rss));
    f.put("used_memory_peak", peak);
    f.put("used_memory_peak_human", bytes_to_human(peak));
    f.put(
        "used_memory_peak_perc",
        format!("{:.2}%", ratio(used, peak) * 100.0),
    );
    let startup = crate::evict::startup_allocated();
    f.put("used_memory_overhead", used.saturating_sub(dataset));
    f.put("used_memory_startup", startup);
    f.put("used_memory_dataset", dataset);
    f.put(
        "used_memory_dataset_perc",
        format!("{:.2}%", ratio(dataset, used) * 100.0),
    );
    f.put("allocator_allocated", alloc.allocated);
    f.put("allocator_active", alloc.active);
    f.put("allocator_resident", alloc.resident);
    f.put("total_system_memory", total);
    f.put("total_system_memory_human", bytes_to_human(total));
    // One Lua state per shard thread runs both scripts and functions.
    let lua = crate::scripting::engine::LUA_MEMORY.load(std::sync::atomic::Ordering::Relaxed);
    let (nscripts, script_bytes) = server.scripts.stats();
    let (nlibs, nfuncs, fn_bytes) = {
        let libs = server.scripts.lock_libraries();
        let code: usize = libs.libs.values().map(|l| l.code.len()).sum();
        (libs.libs.len(), libs.funcs.len(), code)
    };
    f.put("used_memory_lua", lua);
    f.put("used_memory_vm_eval", lua);
    f.put("used_memory_lua_human", bytes_to_human(lua));
    f.put("used_memory_scripts_eval", script_bytes);
    f.put("number_of_cached_scripts", nscripts);
    f.put("number_of_functions", nfuncs);
    f.put("number_of_libraries", nlibs);
    f.put("used_memory_vm_functions", 0);
    f.put("used_memory_vm_total", lua);
    f.put("used_memory_vm_total_human", bytes_to_human(lua));
    f.put("used_memory_functions", fn_bytes);
    let scripts = script_bytes + fn_bytes;
    f.put("used_memory_scripts", scripts);
    f.put("used_memory_scripts_human", bytes_to_human(scripts as u64));
    f.put("maxmemory", maxmemory);
    f.put("maxmemory_human", bytes_to_human(maxmemory));
    f.put("maxmemory_policy", policy);
    let diff = |a: u64, b: u64| a as i64 - b as i64;
    f.put(
        "allocator_frag_ratio",
        format!("{:.2}", ratio(alloc.active, alloc.allocated)),
    );
    f.put("allocator_frag_bytes", diff(alloc.active, alloc.allocated));
    f.put(
        "allocator_rss_ratio",
        format!("{:.2}", ratio(alloc.resident, alloc.active)),
    );
    f.put("allocator_rss_bytes", diff(alloc.resident, alloc.active));
    f.put(
        "rss_overhead_ratio",
        format!("{:.2}", ratio(rss, alloc.resident)),
    );
    f.put("rss_overhead_bytes", diff(rss, alloc.resident));
    f.put(
        "mem_fragmentation_ratio",
        format!("{:.2}", ratio(rss, used)),
    );
    f.put("mem_fragmentation_bytes", diff(rss, used));
    // maxmemory counts everything allocated, so nothing is left out of it.
    f.put("mem_not_counted_for_evict", 0);
    f.put("mem_replication_backlog", 0);
    f.put("mem_total_replication_buffers", 0);
    f.put("mem_clients_slaves", 0);
    f.put(
        "mem_clients_normal",
        used.saturating_sub(startup).saturating_sub(dataset),
    );
    f.put("mem_cluster_links", 0);
    f.put(
        "mem_aof_buffer",
        server.sum_published(|s| &s.aof_buffer_length),
    );
    f.put("mem_allocator", kevy_sys::alloc::name());
    f.put("active_defrag_running", 0);
    f.put("lazyfree_pending_objects", 0);
    // FLUSHALL ASYNC and UNLINK free at once: nothing is freed lazily.
    f.put("lazyfreed_objects", 0);
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Redis's `bytesToHuman`: `B` below 1 KiB, else two decimals of K, M, G, …
fn bytes_to_human(n: u64) -> String {
    const UNITS: &[&str] = &["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut d = n as f64 / 1024.0;
    for unit in &UNITS[..UNITS.len() - 1] {
        if d < 1024.0 {
            return format!("{d:.2}{unit}");
        }
        d /= 1024.0;
    }
    format!("{d:.2}P")
}

fn info_persistence(server: &Server, f: &mut Fields<'_>) {
    use std::sync::atomic::Ordering::Relaxed;
    let p = &server.persist;
    let dirty = server.sum_published(|s| &s.dirty);
    let status = |ok: bool| if ok { "ok" } else { "err" };
    let loading = crate::loading::info_fields();
    f.put("loading", loading.is_some() as u8);
    f.put("async_loading", 0);
    // A fork-less snapshot copies nothing on write.
    f.put("current_cow_peak", 0);
    f.put("current_cow_size", 0);
    f.put("current_cow_size_age", 0);
    f.put("current_fork_perc", "0.00");
    f.put("current_save_keys_processed", 0);
    f.put("current_save_keys_total", 0);
    f.put(
        "rdb_changes_since_last_save",
        dirty.saturating_sub(p.saved_dirty.load(Relaxed)),
    );
    f.put("rdb_bgsave_in_progress", p.in_progress.load(Relaxed) as u8);
    f.put("rdb_last_save_time", last_save(server));
    f.put("rdb_last_bgsave_status", status(p.last_ok.load(Relaxed)));
    f.put("rdb_last_bgsave_time_sec", p.last_secs.load(Relaxed));
    let current = match (p.in_progress.load(Relaxed), p.current_started_ms()) {
        (true, Some(ms)) => (kevy_sys::clock::unix_ms().saturating_sub(ms) / 1000) as i64,
        _ => -1,
    };
    f.put("rdb_current_bgsave_time_sec", current);
    f.put("rdb_saves", p.saves.load(Relaxed));
    f.put("rdb_last_cow_size", 0);
    f.put("rdb_last_load_keys_expired", p.loaded_expired.load(Relaxed));
    f.put("rdb_last_load_keys_loaded", p.loaded_keys.load(Relaxed));
    let rw = &server.rewrites;
    let logging = rw.enabled.load(Relaxed);
    // `CONFIG SET appendonly yes` turns the log on as Redis does, with a
    // rewrite; kevy's waits for the shards' fences (aof.rs): scheduled.
    let scheduled = rw.wanted.load(Relaxed) && !logging;
    let on = logging || scheduled;
    let rewriting = rw.in_progress.load(Relaxed);
    f.put("aof_enabled", on as u8);
    f.put("aof_rewrite_in_progress", rewriting as u8);
    // The rewrite needs no fork, so it never waits for a BGSAVE.
    f.put("aof_rewrite_scheduled", scheduled as u8);
    f.put("aof_last_rewrite_time_sec", rw.last_secs.load(Relaxed));
    let current = match rewriting {
        true => {
            let ms = kevy_sys::clock::unix_ms().saturating_sub(rw.started_ms.load(Relaxed));
            (ms / 1000) as i64
        }
        false => -1,
    };
    f.put("aof_current_rewrite_time_sec", current);
    f.put(
        "aof_last_bgrewrite_status",
        status(rw.last_ok.load(Relaxed)),
    );
    f.put("aof_rewrites", rw.count.load(Relaxed));
    f.put(
        "aof_rewrites_consecutive_failures",
        rw.consecutive_failures.load(Relaxed),
    );
    let write_failed = server.sum_published(|s| &s.aof_write_failed) != 0;
    f.put("aof_last_write_status", status(!write_failed));
    // A fork-less rewrite copies nothing on write.
    f.put("aof_last_cow_size", 0);
    f.put("module_fork_in_progress", 0);
    f.put("module_fork_last_cow_size", 0);
    if on {
        f.put(
            "aof_current_size",
            server.sum_published(|s| &s.aof_current_size),
        );
        f.put("aof_base_size", server.sum_published(|s| &s.aof_base_size));
        f.put("aof_pending_rewrite", 0);
        f.put(
            "aof_buffer_length",
            server.sum_published(|s| &s.aof_buffer_length),
        );
        f.put(
            "aof_pending_bio_fsync",
            server.sum_published(|s| &s.aof_pending_fsync),
        );
        f.put(
            "aof_delayed_fsync",
            server.sum_published(|s| &s.aof_delayed_fsync),
        );
    }
    for (name, value) in loading.into_iter().flatten() {
        f.put(name, value);
    }
}

fn info_stats(server: &Server, c: &Counters, f: &mut Fields<'_>) {
    let rates = server.rates.lock().unwrap_or_else(|e| e.into_inner());
    let kbps = |k: usize| format!("{:.2}", rates.per_sec(k) as f64 / 1024.0);
    f.put("total_connections_received", c.connections);
    f.put("total_commands_processed", c.commands);
    f.put("instantaneous_ops_per_sec", rates.per_sec(0));
    f.put("total_net_input_bytes", c.net_in);
    f.put("total_net_output_bytes", c.net_out);
    f.put("total_net_repl_input_bytes", 0);
    f.put("total_net_repl_output_bytes", 0);
    f.put("instantaneous_input_kbps", kbps(1));
    f.put("instantaneous_output_kbps", kbps(2));
    f.put("instantaneous_input_repl_kbps", "0.00");
    f.put("instantaneous_output_repl_kbps", "0.00");
    f.put("rejected_connections", c.rejected);
    f.put("sync_full", 0);
    f.put("sync_partial_ok", 0);
    f.put("sync_partial_err", 0);
    f.put("expired_keys", c.expired);
    f.put("expired_stale_perc", "0.00");
    f.put("expired_time_cap_reached_count", 0);
    f.put(
        "expire_cycle_cpu_milliseconds",
        crate::service::EXPIRE_CYCLE_US.load(std::sync::atomic::Ordering::Relaxed) / 1000,
    );
    f.put("evicted_keys", c.evicted);
    f.put("evicted_clients", 0);
    f.put("total_eviction_exceeded_time", 0);
    f.put("current_eviction_exceeded_time", 0);
    f.put("keyspace_hits", c.hits);
    f.put("keyspace_misses", c.misses);
    let pubsub = |i: usize| server.rt_stats.pubsub[i].load(std::sync::atomic::Ordering::Relaxed);
    f.put("pubsub_channels", pubsub(0));
    f.put("pubsub_patterns", pubsub(1));
    f.put("pubsubshard_channels", pubsub(2));
    f.put("latest_fork_usec", 0);
    f.put("total_forks", 0);
    f.put("migrate_cached_sockets", 0);
    // No replicas, no defragmentation.
    f.put("slave_expires_tracked_keys", 0);
    f.put("active_defrag_hits", 0);
    f.put("active_defrag_misses", 0);
    f.put("active_defrag_key_hits", 0);
    f.put("active_defrag_key_misses", 0);
    f.put("total_active_defrag_time", 0);
    f.put("current_active_defrag_time", 0);
    f.put(
        "tracking_total_keys",
        server.sum_published(|p| &p.tracking_keys),
    );
    f.put(
        "tracking_total_items",
        server.sum_published(|p| &p.tracking_items),
    );
    f.put("tracking_total_prefixes", server.tracking.prefix_count());
    f.put("unexpected_error_replies", 0);
    f.put("total_error_replies", server.cmdstats.error_replies());
    f.put("dump_payload_sanitizations", 0);
    f.put("total_reads_processed", c.commands);
    f.put("total_writes_processed", c.commands);
    f.put("io_threaded_reads_processed", 0);
    f.put("io_threaded_writes_processed", 0);
    f.put("reply_buffer_shrinks", 0);
    f.put("reply_buffer_expands", 0);
    // kevy's own: connections a shard handed to another (kevy-rt's crate
    // doc, "Moving connections to the cores that have time").
    f.put(
        "kevy_moved_connections",
        server.rt_stats.sum(|s| &s.moved_out),
    );
    // Hash slots a shard handed to another ("Moving slots to the cores
    // that have time"), moves called off, and the slots away from where
    // the server started them now.
    f.put("kevy_moved_slots", server.rt_stats.sum(|s| &s.slots_out));
    f.put(
        "kevy_slot_moves_called_off",
        server.rt_stats.sum(|s| &s.slot_moves_called_off),
    );
    f.put("kevy_slots_away", server.slots.moved() as u64);
    f.put(
        "kevy_slot_moves_usec",
        server.rt_stats.sum(|s| &s.slot_move_us),
    );
}

/// `cmdstat_<name>:calls=…,usec=…,usec_per_call=…,rejected_calls=…,
/// failed_calls=…` for every command (and subcommand) used since the last
/// reset.
fn info_commandstats(server: &Server, f: &mut Fields<'_>) {
    let table = &server.table;
    for slot in 0..table.stat_slots() as u16 {
        let t = server.cmdstats.totals(slot);
        if t.calls == 0 && t.rejected == 0 && t.failed == 0 {
            continue;
        }
        let per_call = if t.calls == 0 {
            0.0
        } else {
            t.usec as f64 / t.calls as f64
        };
        f.put(
            &format!("cmdstat_{}", table.slot_name(slot)),
            format!(
                "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                t.calls, t.usec, t.rejected, t.failed
            ),
        );
    }
}

/// `errorstat_<KIND>:count=…`, by error kind.
fn info_errorstats(server: &Server, f: &mut Fields<'_>) {
    for (kind, n) in server.cmdstats.errors() {
        f.put(&format!("errorstat_{kind}"), format!("count={n}"));
    }
}

/// `latency_percentiles_usec_<name>:p50=…,p99=…,p99.9=…`, at the
/// percentiles `latency-tracking-info-percentiles` lists.
fn info_latencystats(server: &Server, rt: &Runtime, f: &mut Fields<'_>) {
    let list = find_param(b"latency-tracking-info-percentiles")
        .map_or_else(String::new, |p| param_value(server, p, rt));
    let ps: Vec<(String, f64)> = list
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok().map(|p| (w.to_string(), p)))
        .collect();
    let values: Vec<f64> = ps.iter().map(|p| p.1).collect();
    let table = &server.table;
    for slot in 0..table.stat_slots() as u16 {
        let Some(got) = server.cmdstats.percentiles(slot, &values) else {
            continue;
        };
        let text = ps
            .iter()
            .zip(got)
            .map(|((name, _), v)| format!("p{}={v:.3}", trim_percentile(name)))
            .collect::<Vec<_>>()
            .join(",");
        f.put(
            &format!("latency_percentiles_usec_{}", table.slot_name(slot)),
            text,
        );
    }
}

/// A percentile as Redis names it: `50`, `99.9` (no trailing zeros).
fn trim_percentile(p: &str) -> String {
    match p.parse::<f64>() {
        Ok(v) => {
            let s = format!("{v}");
            s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
        }
        Err(_) => p.to_string(),
    }
}

fn info_replication(server: &Server, f: &mut Fields<'_>) {
    f.put("role", "master");
    f.put("connected_slaves", 0);
    f.put("master_failover_state", "no-failover");
    // A replication id distinct from the run id, stable for the run.
    let replid: String = server.run_id.chars().rev().collect();
    f.put("master_replid", replid);
    f.put("master_replid2", "0000000000000000000000000000000000000000");
    f.put("master_repl_offset", 0);
    f.put("second_repl_offset", -1);
    f.put("repl_backlog_active", 0);
    f.put("repl_backlog_size", 1048576);
    f.put("repl_backlog_first_byte_offset", 0);
    f.put("repl_backlog_histlen", 0);
}

/// CPU time from /proc: `utime`, `stime`, `cutime`, `cstime` of the process
/// and of its main thread, in clock ticks of 1/100 s (Linux's fixed USER_HZ).
fn info_cpu(f: &mut Fields<'_>) {
    fn ticks(path: &str) -> [u64; 4] {
        let stat = std::fs::read_to_string(path).unwrap_or_default();
        // Fields after the parenthesised command name, starting at `state`.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        [at(11), at(12), at(13), at(14)]
    }
    let secs = |t: u64| format!("{}.{:06}", t / 100, (t % 100) * 10_000);
    let [utime, stime, cutime, cstime] = ticks("/proc/self/stat");
    let main = format!("/proc/self/task/{}/stat", std::process::id());
    let [mu, ms, _, _] = ticks(&main);
    f.put("used_cpu_sys", secs(stime));
    f.put("used_cpu_user", secs(utime));
    f.put("used_cpu_sys_children", secs(cstime));
    f.put("used_cpu_user_children", secs(cutime));
    f.put("used_cpu_sys_main_thread", secs(ms));
    f.put("used_cpu_user_main_thread", secs(mu));
}

fn info_keyspace(server: &Server, s: &crate::shard::Shard, f: &mut Fields<'_>) {
    for db in 0..DATABASES {
        let (mut keys, mut expires) = server.db_counts(db);
        if s.scratch {
            // A scratch shard: what a script run by copy changed in the
            // copies it holds.
            let (k, e) = s.store.db_counts(db);
            let (lk, le) = s.loaded_counts.get(db).copied().unwrap_or_default();
            keys = (keys + k as u64).saturating_sub(lk as u64);
            expires = (expires + e as u64).saturating_sub(le as u64);
        } else {
            // This shard's published counts may be older than its keys
            // (both are shares of the sum, `Shard::counted`).
            let (k, e) = server.shard_db_counts(s.id, db);
            let (lk, le) = s.counted(db);
            keys = keys.wrapping_sub(k).wrapping_add(lk);
            expires = expires.wrapping_sub(e).wrapping_add(le);
        }
        if keys > 0 {
            // The average TTL is not tracked by the shards.
            f.put(
                &format!("db{db}"),
                format!("keys={keys},expires={expires},avg_ttl=0"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::harness::harness;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn bytes_to_human_rounds_like_redis() {
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1068288), "1.02M");
        assert_eq!(bytes_to_human(25276502016), "23.54G");
    }

    #[test]
    fn info_sections_are_redis_shaped() {
        let mut h = harness();
        let text = |reply: &str| -> String {
            let body = reply.split_once("\r\n").unwrap().1;
            body.strip_suffix("\r\n").unwrap().to_string()
        };
        let all = text(&h.run("INFO"));
        let titles: Vec<&str> = all.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(
            titles,
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Modules",
                "# Errorstats",
                "# Cluster",
                "# Keyspace"
            ]
        );
        assert!(all.contains("\r\nredis_version:7.0.15\r\n"));
        assert!(all.contains("\r\nredis_mode:standalone\r\n"));
        assert!(all.contains("\r\ntcp_port:7777\r\n"));
        assert!(all.contains("\r\nkevy_shards:2\r\n"));
        assert!(all.contains("\r\nrole:master\r\n"));
        assert!(all.contains(&format!("\r\nrun_id:{}\r\n", h.server().run_id)));
        assert!(all.contains("\r\n\r\n# Clients\r\nconnected_clients:"));
        let everything = text(&h.run("INFO everything"));
        for title in [
            "# Commandstats\r\n",
            "# Errorstats\r\n",
            "# Latencystats\r\n",
        ] {
            assert!(everything.contains(title), "{title}");
        }
        // This harness runs commands through the execution point, so INFO
        // itself is counted.
        assert!(everything.contains("\r\ncmdstat_info:calls="));
        assert!(everything.contains("\r\nlatency_percentiles_usec_info:p50="));
        assert!(everything.contains("\r\nmem_allocator:jemalloc-5."));
        assert_eq!(h.run("INFO nosuch"), "$0\r\n\r\n");
        assert_eq!(h.run("INFO KEYSPACE"), "$12\r\n# Keyspace\r\n\r\n");
        assert_eq!(
            h.run("INFO cluster Keyspace"),
            "$44\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\n\r\n"
        );
        h.client.resp3 = true;
        assert_eq!(h.run("INFO nosuch"), "=4\r\ntxt:\r\n");
        assert_eq!(h.run("INFO keyspace"), "=16\r\ntxt:# Keyspace\r\n\r\n");
    }

    #[test]
    fn info_reads_published_counters_and_resetstat_rebases_them() {
        let mut h = harness();
        // The shard INFO runs on counts its own keys; the others' come
        // from what they published.
        for k in [&b"a"[..], b"b"] {
            let v = kevy_store::Value::Str(kevy_store::StrValue::from_input(b"1"));
            h.shard.store.db(0).set(k, v, kevy_store::SetTtl::Clear);
        }
        let server = h.server();
        server.published[0].keys[0].store(7, Relaxed);
        server.published[1].keys[0].store(1, Relaxed);
        server.published[1].expires[0].store(1, Relaxed);
        server.published[1].keys[3].store(5, Relaxed);
        server.published[0].keyspace_hits.store(10, Relaxed);
        server.published[1].keyspace_misses.store(4, Relaxed);
        server.rt_stats.shards[0]
            .connected_clients
            .store(3, Relaxed);
        server.rt_stats.shards[1]
            .connected_clients
            .store(2, Relaxed);
        server.rt_stats.shards[1]
            .total_commands
            .store(1000, Relaxed);
        assert_eq!(
            h.run("INFO keyspace"),
            "$76\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\ndb3:keys=5,expires=0,avg_ttl=0\r\n\r\n"
        );
        let clients = h.run("INFO clients");
        assert!(clients.contains("\r\nconnected_clients:5\r\n"), "{clients}");
        assert!(clients.contains("\r\nmaxclients:10000\r\n"));
        let stats = h.run("INFO stats");
        assert!(
            stats.contains("\r\ntotal_commands_processed:1000\r\n"),
            "{stats}"
        );
        assert!(stats.contains("\r\nkeyspace_hits:10\r\nkeyspace_misses:4\r\n"));
        assert_eq!(h.run("CONFIG RESETSTAT"), "+OK\r\n");
        let server = h.server();
        server.rt_stats.shards[0].total_commands.store(7, Relaxed);
        let stats = h.run("INFO stats");
        assert!(
            stats.contains("\r\ntotal_commands_processed:7\r\n"),
            "{stats}"
        );
        assert!(stats.contains("\r\nkeyspace_hits:0\r\nkeyspace_misses:0\r\n"));
        assert!(h
            .run("INFO clients")
            .contains("\r\nconnected_clients:5\r\n"));
        assert_eq!(
            h.run("CONFIG RESETSTAT x"),
            "-ERR wrong number of arguments for 'config|resetstat' command\r\n"
        );
    }
}
