//! The server command family: TIME, LASTSAVE, SHUTDOWN, MONITOR, SLOWLOG,
//! ROLE and MODULE. COMMAND, CONFIG, INFO, LATENCY and DEBUG have their own
//! modules.
//!
//! MONITOR makes the connection a monitor; the runtime feeds it every
//! command dispatched on any shard. SLOWLOG reads the per-shard slow logs
//! that the execution point fills (`stats.rs`) and merges them newest
//! first.

use super::common::{conn_spec, dispatch, last_save, reply_help};
use crate::ctx::{ConnCtx, Ctx};
use crate::persist;
use crate::table::{flag, CommandSpec, Handler, RouteKind, SubSpec, Table};
use kevy_resp::Args;
use kevy_rt::{ClientCtx, ConnAction, Fold, Route};
use kevy_store::num::parse_i64;

pub fn register(t: &mut Table) {
    use flag::*;
    t.add(conn_spec(
        "time",
        1,
        LOADING | STALE | FAST,
        &["@fast"],
        cmd_time,
    ));
    let acl = &["@admin", "@fast", "@dangerous"];
    t.add(conn_spec(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        acl,
        cmd_lastsave,
    ));
    t.add(CommandSpec {
        route: RouteKind::Custom(route_shutdown),
        run: Handler::Shard(cmd_shutdown),
        ..conn_spec(
            "shutdown",
            -1,
            ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
            &["@admin", "@slow", "@dangerous"],
            cmd_monitor,
        )
    });
    t.add(conn_spec(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        &["@admin", "@slow", "@dangerous"],
        cmd_monitor,
    ));
    t.add_container(
        conn_spec("slowlog", -2, 0, &["@slow"], cmd_slowlog),
        SLOWLOG_SUBS,
    );
    t.add(conn_spec(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        &["@admin", "@fast", "@dangerous"],
        cmd_role,
    ));
    t.add_container(
        conn_spec("module", -2, 0, &["@slow"], cmd_module),
        MODULE_SUBS,
    );
}

/// ROLE: kevy is always a primary with no replicas; its replication
/// offset is INFO's `master_repl_offset`.
fn cmd_role(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.array(3);
    ctx.out.bulk(b"master");
    ctx.out.int(0);
    ctx.out.array(0);
    ConnAction::Continue
}

const MODULE_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];
const MODULE_LOAD: u32 = flag::ADMIN | flag::NOSCRIPT | flag::NO_ASYNC_LOADING;

/// MODULE's subcommands, in the order Redis 7.0's COMMAND INFO gives them.
static MODULE_SUBS: &[SubSpec] = &[
    SubSpec {
        name: "module|loadex",
        arity: -3,
        flags: MODULE_LOAD,
        acl: MODULE_ACL,
        run: module_load,
    },
    SubSpec {
        name: "module|help",
        arity: 2,
        flags: flag::LOADING | flag::STALE,
        acl: &["@slow"],
        run: module_help,
    },
    SubSpec {
        name: "module|load",
        arity: -3,
        flags: MODULE_LOAD,
        acl: MODULE_ACL,
        run: module_load,
    },
    SubSpec {
        name: "module|unload",
        arity: 3,
        flags: MODULE_LOAD,
        acl: MODULE_ACL,
        run: module_load,
    },
    SubSpec {
        name: "module|list",
        arity: 2,
        flags: flag::ADMIN | flag::NOSCRIPT,
        acl: MODULE_ACL,
        run: module_list,
    },
];

fn cmd_module(ctx: &mut ConnCtx<'_>) -> ConnAction {
    dispatch(ctx, MODULE_SUBS)
}

fn module_help(ctx: &mut ConnCtx<'_>) -> ConnAction {
    reply_help(
        ctx,
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    );
    ConnAction::Continue
}

/// No module is ever loaded.
fn module_list(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.array(0);
    ConnAction::Continue
}

/// kevy loads no modules: LOAD, LOADEX and UNLOAD answer as Redis does
/// with `enable-module-command no`, its default.
fn module_load(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.error(
        "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", \
         you can run it from a local connection, otherwise you need to set this option in the \
         configuration file, and then restart the server.",
    );
    ConnAction::Continue
}

fn cmd_monitor(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.ok();
    ConnAction::Monitor
}

const SLOWLOG_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

/// SLOWLOG's subcommands, in the order Redis 7.0's COMMAND INFO gives them.
static SLOWLOG_SUBS: &[SubSpec] = &[
    SubSpec {
        name: "slowlog|reset",
        arity: 2,
        flags: flag::ADMIN | flag::LOADING | flag::STALE,
        acl: SLOWLOG_ACL,
        run: slowlog_reset,
    },
    SubSpec {
        name: "slowlog|help",
        arity: 2,
        flags: flag::LOADING | flag::STALE,
        acl: &["@slow"],
        run: slowlog_help,
    },
    SubSpec {
        name: "slowlog|get",
        arity: -2,
        flags: flag::ADMIN | flag::LOADING | flag::STALE,
        acl: SLOWLOG_ACL,
        run: slowlog_get,
    },
    SubSpec {
        name: "slowlog|len",
        arity: 2,
        flags: flag::ADMIN | flag::LOADING | flag::STALE,
        acl: SLOWLOG_ACL,
        run: slowlog_len,
    },
];

fn cmd_slowlog(ctx: &mut ConnCtx<'_>) -> ConnAction {
    dispatch(ctx, SLOWLOG_SUBS)
}

fn slowlog_help(ctx: &mut ConnCtx<'_>) -> ConnAction {
    reply_help(
        ctx,
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    ConnAction::Continue
}

fn slowlog_len(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.int(ctx.server.cmdstats.slowlog_len() as i64);
    ConnAction::Continue
}

fn slowlog_reset(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.server.cmdstats.slowlog_reset();
    ctx.out.ok();
    ConnAction::Continue
}

/// SLOWLOG GET [count]: -1 is every entry; each entry is id, unix time,
/// duration in µs, the arguments, the client's address and name.
fn slowlog_get(ctx: &mut ConnCtx<'_>) -> ConnAction {
    if ctx.args.len() > 3 {
        // Redis checks GET's count itself, after the table's arity.
        let msg = format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(ctx.args.get(1))
        );
        ctx.out.error(&msg);
        return ConnAction::Continue;
    }
    let count = if ctx.args.len() == 3 {
        match parse_i64(ctx.args.get(2)) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => n as usize,
            _ => {
                ctx.out
                    .error("ERR count should be greater than or equal to -1");
                return ConnAction::Continue;
            }
        }
    } else {
        10
    };
    let entries = ctx.server.cmdstats.slowlog(count);
    let out = &mut ctx.out;
    out.array(entries.len());
    for e in entries {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.unix_secs as i64);
        out.int(e.usec as i64);
        out.array(e.argv.len());
        for a in &e.argv {
            out.bulk(a);
        }
        out.bulk(e.addr.as_bytes());
        out.bulk(&e.name);
    }
    ConnAction::Continue
}

fn cmd_time(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let us = kevy_sys::clock::unix_us();
    ctx.out.array(2);
    ctx.out.bulk_i64((us / 1_000_000) as i64);
    ctx.out.bulk_i64((us % 1_000_000) as i64);
    ConnAction::Continue
}

fn cmd_lastsave(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.int(last_save(ctx.server) as i64);
    ConnAction::Continue
}

/// SHUTDOWN's options.
#[derive(Default)]
struct ShutdownOpts {
    nosave: bool,
    save: bool,
    force: bool,
    abort: bool,
}

fn parse_shutdown(args: Args<'_>) -> Result<ShutdownOpts, &'static str> {
    let mut o = ShutdownOpts::default();
    let mut now = false;
    for arg in args.iter().skip(1) {
        let slot = match arg.to_ascii_lowercase().as_slice() {
            b"nosave" => &mut o.nosave,
            b"save" => &mut o.save,
            b"now" => &mut now,
            b"force" => &mut o.force,
            b"abort" => &mut o.abort,
            _ => return Err("ERR syntax error"),
        };
        *slot = true;
    }
    if (o.abort && (o.nosave || o.save || now || o.force)) || (o.nosave && o.save) {
        return Err("ERR syntax error");
    }
    Ok(o)
}

/// Whether SHUTDOWN with these options saves first: SAVE, or save points
/// configured and not NOSAVE (as Redis decides).
fn shutdown_saves(o: &ShutdownOpts) -> bool {
    // Redis never saves a dataset it has not finished loading.
    !o.abort
        && !crate::loading::in_progress()
        && !o.nosave
        && (o.save || crate::settings::current("save").is_some_and(|s| !s.is_empty()))
}

/// SHUTDOWN runs where it must: on the connection when nothing is saved,
/// on every shard (a whole-keyspace moment, as SAVE) when it saves first.
fn route_shutdown(args: Args<'_>, _client: &ClientCtx, _n: usize) -> Result<Route, String> {
    Ok(match parse_shutdown(args) {
        Ok(o) if shutdown_saves(&o) => Route::All(Fold::Agree),
        _ => Route::Conn,
    })
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. With save points (or
/// SAVE) and without NOSAVE, every shard writes its section of a final
/// `dump.rdb` first, as SAVE does; the part that completes the file stops
/// the server. A failed save keeps the server running and answers an
/// error, unless FORCE. NOW skips waiting for replicas, which kevy never
/// has, and no shutdown is ever left in progress for ABORT. On success the
/// client gets no reply: the process exits and closes it. A SIGINT or
/// SIGTERM runs a plain SHUTDOWN.
fn cmd_shutdown(ctx: &mut Ctx<'_>) {
    let o = match parse_shutdown(ctx.args) {
        Ok(o) => o,
        Err(e) => return ctx.out.error(e),
    };
    if o.abort {
        return ctx.out.error("ERR No shutdown in progress.");
    }
    if !shutdown_saves(&o) {
        crate::log!(Warning, "User requested shutdown...");
        kevy_sys::signal::request_shutdown();
        return;
    }
    // Every shard runs its part; the log says it once.
    if ctx.shard.id == 0 {
        crate::log!(Warning, "User requested shutdown...");
        crate::log!(Notice, "Saving the final RDB snapshot before exiting.");
    }
    match persist::shutdown_part(ctx.shard) {
        Ok(false) => {}
        Ok(true) => kevy_sys::signal::request_shutdown(),
        Err(_) if o.force => {
            crate::log!(
                Warning,
                "Error trying to save the DB, can't exit. Exiting anyway (FORCE)."
            );
            kevy_sys::signal::request_shutdown();
        }
        Err(_) => {
            crate::log!(Warning, "Error trying to save the DB, can't exit.");
            ctx.out.error("ERR Errors trying to SHUTDOWN. Check logs.");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::families::testkit::harness::harness;

    #[test]
    fn time_and_lastsave() {
        let mut h = harness();
        let before = kevy_sys::clock::unix_us() / 1_000_000;
        let reply = h.run("TIME");
        let parts: Vec<&str> = reply.split("\r\n").collect();
        assert_eq!(parts[0], "*2");
        let secs: u64 = parts[2].parse().unwrap();
        let usec: u64 = parts[4].parse().unwrap();
        assert!(secs >= before && secs <= before + 2);
        assert!(usec < 1_000_000);
        assert_eq!(parts[3], format!("${}", parts[4].len()));
        assert_eq!(
            h.run("TIME x"),
            "-ERR wrong number of arguments for 'time' command\r\n"
        );
        assert_eq!(
            h.run("LASTSAVE"),
            format!(":{}\r\n", h.server().start_unix_ms / 1000)
        );
    }

    /// Only the refusals: a successful SHUTDOWN stops every server in the
    /// process (the integration tests run it on a real one).
    #[test]
    fn shutdown_refusals_match_redis() {
        let mut h = harness();
        let syntax = "-ERR syntax error\r\n";
        for line in [
            "SHUTDOWN foo",
            "SHUTDOWN NOSAVE SAVE",
            "SHUTDOWN save nosave foo",
            "SHUTDOWN nosave foo abort",
            "SHUTDOWN ABORT NOSAVE",
            "SHUTDOWN now abort",
            "SHUTDOWN abort force",
        ] {
            assert_eq!(h.run(line), syntax, "{line}");
        }
        for line in ["SHUTDOWN ABORT", "shutdown abort ABORT"] {
            assert_eq!(h.run(line), "-ERR No shutdown in progress.\r\n", "{line}");
        }
        assert!(!kevy_sys::signal::shutdown_requested());
    }
}
