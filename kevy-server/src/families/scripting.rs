//! The scripting family (Redis's `eval.c` and `functions.c` commands):
//! EVAL, EVALSHA and their `_RO` forms, SCRIPT, FCALL, FCALL_RO and
//! FUNCTION. The engine is `crate::scripting`; this file parses, routes and
//! replies.
//!
//! EVAL, EVALSHA and FCALL declare their keys through numkeys (Redis's
//! movable keys): a custom route checks numkeys and routes the command by
//! those keys, so a script runs on the shard that owns them, or by copy on
//! a scratch shard when they span shards.

use super::common::{conn_spec, dispatch, reply_help};
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
    let run = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | MOVABLEKEYS;
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
    let args = ctx.args;
    let ok = args.len() == 2
        || (args.len() == 3
            && (args.get(2).eq_ignore_ascii_case(b"sync")
                || args.get(2).eq_ignore_ascii_case(b"async")));
    if !ok {
        ctx.out
            .error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        return ConnAction::Continue;
    }
    ctx.server.scripts.flush();
    ctx.out.ok();
    ConnAction::Continue
}

fn script_kill(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.error("NOTBUSY No scripts in execution right now.");
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
