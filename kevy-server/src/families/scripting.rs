//! The scripting family (Redis's `eval.c` and `functions.c` commands):
//! EVAL, EVALSHA and their `_RO` forms, SCRIPT, FCALL, FCALL_RO and
//! FUNCTION. The engine is `crate::scripting`; this file parses, routes and
//! replies.
//!
//! EVAL, EVALSHA and FCALL declare their keys through numkeys (Redis's
//! movable keys): a custom route checks numkeys and routes the command by
//! those keys, so a script runs on the shard that owns them, or by copy on
//! a scratch shard when they span shards.

use super::common::{conn_spec, dispatch, flush_mode_ok, reply_help};
use crate::ctx::{ConnCtx, Ctx};
use crate::scripting::engine::{self, Source};
use crate::table::{flag, CommandSpec, Handler, RouteKind, SubSpec, Table};
use kevy_resp::Args;
use kevy_rt::{ClientCtx, ConnAction, Fold, Route};

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags and ACL categories are Redis 7.0's. Redis reports no key
/// range for them (0,0,0, movablekeys): the route finds the keys.
pub fn register(t: &mut Table) {
    use flag::*;
    const ACL: &[&str] = &["@slow", "@scripting"];
    let run = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | MOVABLEKEYS | RUNS_SCRIPT;
    let script = |name, flags, route, f| CommandSpec {
        name,
        arity: -3,
        flags,
        first: 0,
        last: 0,
        step: 0,
        acl: ACL,
        route: RouteKind::Custom(route),
        run: Handler::Shard(f),
    };
    t.add(script("eval", run, route_eval, cmd_eval));
    t.add(script("evalsha", run, route_evalsha, cmd_evalsha));
    t.add(script("eval_ro", run | READONLY, route_eval, cmd_eval_ro));
    t.add(script(
        "evalsha_ro",
        run | READONLY,
        route_evalsha,
        cmd_evalsha_ro,
    ));
    t.add_container(
        conn_spec("script", -2, 0, &["@slow"], cmd_script),
        SCRIPT_SUBS,
    );
    t.add(script("fcall", run, route_fcall, cmd_fcall));
    t.add(script(
        "fcall_ro",
        run | READONLY,
        route_fcall,
        cmd_fcall_ro,
    ));
    t.add_container(
        conn_spec("function", -2, 0, &["@slow"], cmd_function),
        FUNCTION_SUBS,
    );
}

/// The numkeys of `[cmd, script, numkeys, …]`, with EVAL's errors.
fn numkeys(args: Args<'_>) -> Result<usize, &'static str> {
    let n = kevy_store::num::parse_i64(args.get(2))
        .ok_or("ERR value is not an integer or out of range")?;
    if n > args.len() as i64 - 3 {
        return Err("ERR Number of keys can't be greater than number of args");
    }
    if n < 0 {
        return Err("ERR Number of keys can't be negative");
    }
    Ok(n as usize)
}

/// Routes a script by its declared keys (none: the connection's shard).
fn route_eval(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    let n = numkeys(args).map_err(str::to_owned)?;
    Ok(Route::Keys {
        first: 3,
        // numkeys < argc, so this fits.
        last: i32::try_from(2 + n).unwrap_or(i32::MAX),
        step: 1,
        extra: 0,
        fold: Fold::One,
    })
}

/// EVALSHA answers NOSCRIPT for a SHA-1 of the wrong length before it
/// looks at numkeys: with a bad numkeys too it runs where the connection
/// is, and answers that.
fn route_evalsha(args: Args<'_>, client: &ClientCtx, n: usize) -> Result<Route, String> {
    match route_eval(args, client, n) {
        Err(_) if args.get(1).len() != 40 => Ok(NO_KEYS),
        r => r,
    }
}

/// A route with no key: the connection's own shard.
const NO_KEYS: Route = Route::Keys {
    first: 1,
    last: 0,
    step: 1,
    extra: 0,
    fold: Fold::One,
};

/// FCALL looks the function up before numkeys: with a bad numkeys it runs
/// where the connection is, and answers in Redis's order.
fn route_fcall(args: Args<'_>, client: &ClientCtx, n: usize) -> Result<Route, String> {
    Ok(route_eval(args, client, n).unwrap_or(NO_KEYS))
}

fn cmd_fcall(ctx: &mut Ctx<'_>) {
    engine::fcall(ctx, false);
}

fn cmd_fcall_ro(ctx: &mut Ctx<'_>) {
    engine::fcall(ctx, true);
}

fn cmd_eval(ctx: &mut Ctx<'_>) {
    let body = ctx.args.get(1);
    engine::eval(ctx, Source::Body(body), false);
}

fn cmd_evalsha(ctx: &mut Ctx<'_>) {
    let sha = ctx.args.get(1);
    engine::eval(ctx, Source::Sha(sha), false);
}

fn cmd_eval_ro(ctx: &mut Ctx<'_>) {
    let body = ctx.args.get(1);
    engine::eval(ctx, Source::Body(body), true);
}

fn cmd_evalsha_ro(ctx: &mut Ctx<'_>) {
    let sha = ctx.args.get(1);
    engine::eval(ctx, Source::Sha(sha), true);
}

// ---- SCRIPT ------------------------------------------------------------------

const SCRIPT_ACL: &[&str] = &["@slow", "@scripting"];

/// In the order Redis 7.0's COMMAND INFO gives them.
static SCRIPT_SUBS: &[SubSpec] = &[
    SubSpec {
        name: "script|debug",
        arity: 3,
        flags: flag::NOSCRIPT,
        acl: SCRIPT_ACL,
        run: script_debug,
    },
    SubSpec {
        name: "script|help",
        arity: 2,
        flags: flag::LOADING | flag::STALE,
        acl: SCRIPT_ACL,
        run: script_help,
    },
    SubSpec {
        name: "script|flush",
        arity: -2,
        flags: flag::NOSCRIPT,
        acl: SCRIPT_ACL,
        run: script_flush,
    },
    SubSpec {
        name: "script|kill",
        arity: 2,
        flags: flag::NOSCRIPT | flag::ALLOW_BUSY,
        acl: SCRIPT_ACL,
        run: script_kill,
    },
    SubSpec {
        name: "script|exists",
        arity: -3,
        flags: flag::NOSCRIPT,
        acl: SCRIPT_ACL,
        run: script_exists,
    },
    SubSpec {
        name: "script|load",
        arity: 3,
        flags: flag::NOSCRIPT | flag::STALE,
        acl: SCRIPT_ACL,
        run: script_load,
    },
];

fn cmd_script(ctx: &mut ConnCtx<'_>) -> ConnAction {
    dispatch(ctx, SCRIPT_SUBS)
}

fn script_help(ctx: &mut ConnCtx<'_>) -> ConnAction {
    reply_help(
        ctx,
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    ConnAction::Continue
}

/// SCRIPT DEBUG: kevy has no Lua debugger, so only NO is accepted.
fn script_debug(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let mode = ctx.args.get(2);
    if mode.eq_ignore_ascii_case(b"no") {
        ctx.out.ok();
    } else if mode.eq_ignore_ascii_case(b"yes") || mode.eq_ignore_ascii_case(b"sync") {
        ctx.out
            .error("ERR kevy does not support the Lua debugger (SCRIPT DEBUG YES/SYNC)");
    } else {
        ctx.out.error("ERR Use SCRIPT DEBUG YES/SYNC/NO");
    }
    ConnAction::Continue
}

fn script_flush(ctx: &mut ConnCtx<'_>) -> ConnAction {
    if !flush_mode_ok(&ctx.args, 2) {
        ctx.out
            .error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        return ConnAction::Continue;
    }
    ctx.server.scripts.flush();
    ctx.out.ok();
    ConnAction::Continue
}

fn script_kill(ctx: &mut ConnCtx<'_>) -> ConnAction {
    match ctx.server.scripts.kill(false) {
        Some(e) => ctx.out.error(e),
        None => ctx.out.ok(),
    }
    ConnAction::Continue
}

fn script_exists(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let args = ctx.args;
    ctx.out.array(args.len() - 2);
    for i in 2..args.len() {
        let found = ctx.server.scripts.exists(args.get(i));
        ctx.out.int(found as i64);
    }
    ConnAction::Continue
}

fn script_load(ctx: &mut ConnCtx<'_>) -> ConnAction {
    match engine::script_load(ctx.server, ctx.args.get(2)) {
        Ok(sha) => ctx.out.bulk(&sha),
        Err(msg) => ctx.out.error(&msg),
    }
    ConnAction::Continue
}

// ---- FUNCTION -------------------------------------------------------------------

/// In the order Redis 7.0's COMMAND INFO gives them.
static FUNCTION_SUBS: &[SubSpec] = &[
    SubSpec {
        name: "function|restore",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM | flag::NOSCRIPT,
        acl: FN_WRITE_ACL,
        run: function_restore,
    },
    SubSpec {
        name: "function|kill",
        arity: 2,
        flags: flag::NOSCRIPT | flag::ALLOW_BUSY,
        acl: SCRIPT_ACL,
        run: function_kill,
    },
    SubSpec {
        name: "function|delete",
        arity: 3,
        flags: flag::WRITE | flag::NOSCRIPT,
        acl: FN_WRITE_ACL,
        run: function_delete,
    },
    SubSpec {
        name: "function|dump",
        arity: 2,
        flags: flag::NOSCRIPT,
        acl: SCRIPT_ACL,
        run: function_dump,
    },
    SubSpec {
        name: "function|flush",
        arity: -2,
        flags: flag::WRITE | flag::NOSCRIPT,
        acl: FN_WRITE_ACL,
        run: function_flush,
    },
    SubSpec {
        name: "function|help",
        arity: 2,
        flags: flag::LOADING | flag::STALE,
        acl: SCRIPT_ACL,
        run: function_help,
    },
    SubSpec {
        name: "function|load",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM | flag::NOSCRIPT,
        acl: FN_WRITE_ACL,
        run: function_load,
    },
    SubSpec {
        name: "function|list",
        arity: -2,
        flags: flag::NOSCRIPT,
        acl: SCRIPT_ACL,
        run: function_list,
    },
    SubSpec {
        name: "function|stats",
        arity: 2,
        flags: flag::NOSCRIPT | flag::ALLOW_BUSY,
        acl: SCRIPT_ACL,
        run: function_stats,
    },
];

/// Records a change of the libraries for the append-only log, on the
/// connection's shard (the libraries' own state is the server's).
fn record(ctx: &mut ConnCtx<'_>, argv: &[&[u8]]) {
    crate::propagate::record(ctx.shard, 0, argv);
}

const FN_WRITE_ACL: &[&str] = &["@write", "@slow", "@scripting"];

fn cmd_function(ctx: &mut ConnCtx<'_>) -> ConnAction {
    dispatch(ctx, FUNCTION_SUBS)
}

fn function_help(ctx: &mut ConnCtx<'_>) -> ConnAction {
    reply_help(
        ctx,
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    ConnAction::Continue
}

/// FUNCTION LOAD [REPLACE] code.
fn function_load(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let args = ctx.args;
    let mut replace = false;
    let mut at = 2;
    while at < args.len() - 1 {
        let a = args.get(at);
        at += 1;
        if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
            continue;
        }
        ctx.out.error(&format!(
            "ERR Unknown option given: {}",
            super::common::c_str(a, usize::MAX)
        ));
        return ConnAction::Continue;
    }
    match engine::function_load(ctx.server, args.get(at), replace) {
        Ok(name) => {
            record(ctx, &[b"FUNCTION", b"LOAD", b"REPLACE", args.get(at)]);
            ctx.out.bulk(&name);
        }
        Err(msg) => ctx.out.error(&msg),
    }
    ConnAction::Continue
}

fn function_delete(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let name = ctx.args.get(2);
    let scripts = &ctx.server.scripts;
    let removed = {
        let mut libs = scripts.lock_libraries();
        match libs.libs.remove(name) {
            Some(lib) => {
                for f in &lib.functions {
                    libs.funcs.remove(&f.name);
                }
                true
            }
            None => false,
        }
    };
    if removed {
        scripts.libraries_changed(&ctx.server.persist);
        record(ctx, &[b"FUNCTION", b"DELETE", name]);
        ctx.out.ok();
    } else {
        ctx.out.error("ERR Library not found");
    }
    ConnAction::Continue
}

/// Redis's `addReplySubcommandSyntaxError`, for a FUNCTION subcommand
/// with more arguments than it takes.
fn reply_syntax(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.error(&format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        super::common::c_str(ctx.args.get(1), usize::MAX)
    ));
    ConnAction::Continue
}

fn function_flush(ctx: &mut ConnCtx<'_>) -> ConnAction {
    if ctx.args.len() > 3 {
        return reply_syntax(ctx);
    }
    if !flush_mode_ok(&ctx.args, 2) {
        ctx.out
            .error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
        return ConnAction::Continue;
    }
    *ctx.server.scripts.lock_libraries() = Default::default();
    ctx.server.scripts.libraries_changed(&ctx.server.persist);
    record(ctx, &[b"FUNCTION", b"FLUSH"]);
    ctx.out.ok();
    ConnAction::Continue
}

fn function_kill(ctx: &mut ConnCtx<'_>) -> ConnAction {
    match ctx.server.scripts.kill(true) {
        Some(e) => ctx.out.error(e),
        None => ctx.out.ok(),
    }
    ConnAction::Continue
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
fn function_list(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let args = ctx.args;
    let (mut with_code, mut pattern) = (false, None);
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if !with_code && a.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
            if i + 1 >= args.len() {
                ctx.out.error("ERR library name argument was not given");
                return ConnAction::Continue;
            }
            i += 1;
            pattern = Some(args.get(i));
        } else {
            ctx.out.error(&format!(
                "ERR Unknown argument {}",
                super::common::c_str(a, usize::MAX)
            ));
            return ConnAction::Continue;
        }
        i += 1;
    }
    let libs = ctx.server.scripts.lock_libraries();
    let chosen: Vec<&engine::Library> = libs
        .libs
        .values()
        .filter(|l| pattern.is_none_or(|p| kevy_store::glob::matches_with(p, &l.name, false)))
        .collect();
    let out = &mut ctx.out;
    out.array(chosen.len());
    for lib in chosen {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(&lib.name);
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(&f.name);
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = crate::scripting::flags::NAMES
                .iter()
                .filter(|(bit, _)| f.flags & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            out.set(names.len());
            for n in names {
                out.simple(n.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    ConnAction::Continue
}

fn function_stats(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let (nlibs, nfuncs) = {
        let libs = ctx.server.scripts.lock_libraries();
        (libs.libs.len(), libs.funcs.len())
    };
    let running = match ctx.server.scripts.running_function() {
        Ok(r) => r,
        Err(busy) => {
            ctx.out.error(busy);
            return ConnAction::Continue;
        }
    };
    let out = &mut ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match running {
        None => out.null(),
        Some(call) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(&call.name);
            out.bulk(b"command");
            out.array(call.command.len());
            for a in &call.command {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(call.started.elapsed().as_millis() as i64);
        }
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(nlibs as i64);
    out.bulk(b"functions_count");
    out.int(nfuncs as i64);
    ConnAction::Continue
}

fn function_dump(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let p = engine::function_dump(ctx.server);
    ctx.out.bulk(&p);
    ConnAction::Continue
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
fn function_restore(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let args = ctx.args;
    let policy = match args.len() {
        3 => engine::RestorePolicy::Append,
        4 => {
            let p = args.get(3);
            if p.eq_ignore_ascii_case(b"flush") {
                engine::RestorePolicy::Flush
            } else if p.eq_ignore_ascii_case(b"append") {
                engine::RestorePolicy::Append
            } else if p.eq_ignore_ascii_case(b"replace") {
                engine::RestorePolicy::Replace
            } else {
                ctx.out.error(
                    "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                );
                return ConnAction::Continue;
            }
        }
        _ => return reply_syntax(ctx),
    };
    match engine::function_restore(ctx.server, args.get(2), policy) {
        Ok(()) => {
            let all: Vec<&[u8]> = args.iter().collect();
            record(ctx, &all);
            ctx.out.ok();
        }
        Err(msg) => ctx.out.error(&msg),
    }
    ConnAction::Continue
}
