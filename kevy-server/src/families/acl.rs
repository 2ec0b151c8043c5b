//! The ACL command: users and their rules (the model is in `crate::acl`).
//!
//! SETUSER, DELUSER and LOAD change who may run what, so they run with
//! every shard's connections in hand ([`clients_with`]): the runtime marks
//! every connection for a fresh check of its next command, and closes the
//! connections of deleted users, before the reply leaves.

use super::common::{c_str, conn_spec, dispatch, find_sub, reply_help};
use crate::acl::{self, User};
use crate::ctx::ConnCtx;
use crate::table::{flag, RouteKind, SubSpec, Table};
use kevy_resp::{Args, Reply};
use kevy_rt::{ClientCtx, ClientInfo, ClientsChosen, ConnAction, Route};
use kevy_store::num::parse_i64;

pub fn register(t: &mut Table) {
    let mut acl = conn_spec("acl", -2, 0, &["@slow"], cmd_acl);
    acl.route = RouteKind::Custom(route_acl);
    t.add_container(acl, ACL_SUBS);
}

const ADMIN: u32 = flag::ADMIN | flag::NOSCRIPT | flag::LOADING | flag::STALE;
const PLAIN: u32 = flag::NOSCRIPT | flag::LOADING | flag::STALE;
const ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

const fn sub(
    name: &'static str,
    arity: i32,
    flags: u32,
    acl: &'static [&'static str],
    run: fn(&mut ConnCtx<'_>) -> ConnAction,
) -> SubSpec {
    SubSpec {
        name,
        arity,
        flags,
        acl,
        run,
    }
}

/// In the order of Redis's command docs.
static ACL_SUBS: &[SubSpec] = &[
    sub("acl|cat", -2, PLAIN, &["@slow"], acl_cat),
    sub("acl|deluser", -3, ADMIN, ADMIN_ACL, on_every_shard),
    sub("acl|dryrun", -4, ADMIN, ADMIN_ACL, acl_dryrun),
    sub("acl|genpass", -2, PLAIN, &["@slow"], acl_genpass),
    sub("acl|getuser", 3, ADMIN, ADMIN_ACL, acl_getuser),
    sub(
        "acl|help",
        2,
        flag::LOADING | flag::STALE,
        &["@slow"],
        acl_help,
    ),
    sub("acl|list", 2, ADMIN, ADMIN_ACL, acl_list),
    sub("acl|load", 2, ADMIN, ADMIN_ACL, on_every_shard),
    sub("acl|log", -2, ADMIN, ADMIN_ACL, acl_log),
    sub("acl|save", 2, ADMIN, ADMIN_ACL, acl_save),
    sub("acl|setuser", -3, ADMIN, ADMIN_ACL, on_every_shard),
    sub("acl|users", 2, ADMIN, ADMIN_ACL, acl_users),
    sub("acl|whoami", 2, PLAIN, &["@slow"], acl_whoami),
];

fn cmd_acl(ctx: &mut ConnCtx<'_>) -> ConnAction {
    dispatch(ctx, ACL_SUBS)
}

/// Whether `args` is an ACL subcommand that changes the rules (SETUSER,
/// DELUSER, LOAD): it runs with every connection, and not inside MULTI.
pub fn changes_rules(args: Args<'_>) -> bool {
    let sub = if args.len() > 1 { args.get(1) } else { b"" };
    [&b"setuser"[..], b"deluser", b"load"]
        .iter()
        .any(|s| sub.eq_ignore_ascii_case(s))
}

fn route_acl(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    Ok(if changes_rules(args) {
        Route::Clients { all: true }
    } else {
        Route::Conn
    })
}

/// Reached only if the route said otherwise: those subcommands need every
/// connection.
fn on_every_shard(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out
        .error("ERR ACL subcommand routed without its connections");
    ConnAction::Continue
}

/// SETUSER, DELUSER and LOAD, with every shard's connections: the
/// connections to close, and a fresh check for all of them.
pub fn clients_with(ctx: &mut ConnCtx<'_>, infos: &[ClientInfo]) -> ClientsChosen {
    let s = match find_sub(ctx.args, ACL_SUBS) {
        Ok(s) => s.name,
        Err(msg) => {
            ctx.out.error(&msg);
            return ClientsChosen::default();
        }
    };
    let changed = match s {
        "acl|setuser" => setuser(ctx),
        "acl|deluser" => deluser(ctx),
        _ => load(ctx),
    };
    let Some(gone) = changed else {
        return ClientsChosen::default();
    };
    // The connections of users that no longer exist are closed (the
    // caller's own after this reply), as Redis frees them.
    let kill = infos
        .iter()
        .filter(|i| gone(&i.user))
        .map(|i| i.id)
        .collect();
    ClientsChosen {
        kill,
        recheck: true,
        ..ClientsChosen::default()
    }
}

type Gone = Box<dyn Fn(&[u8]) -> bool>;

fn setuser(ctx: &mut ConnCtx<'_>) -> Option<Gone> {
    let name = ctx.args.get(2);
    if !acl::valid_name(name) {
        ctx.out
            .error("ERR Usernames can't contain spaces or null characters");
        return None;
    }
    let rules: Vec<&[u8]> = ctx.args.iter().skip(3).collect();
    for r in &rules {
        // Selectors are not kept: refused rather than dropped.
        if r.starts_with(b"(") {
            let msg = format!(
                "ERR Error in ACL SETUSER modifier '{}': {}",
                c_str(r, usize::MAX),
                acl::RuleError::Syntax.text()
            );
            ctx.out.error(&msg);
            return None;
        }
    }
    match acl::set_user(name, &rules) {
        Ok(()) => {
            ctx.out.ok();
            Some(Box::new(|_| false))
        }
        Err((r, e)) => {
            let msg = format!(
                "ERR Error in ACL SETUSER modifier '{}': {}",
                c_str(&r, usize::MAX),
                e.text()
            );
            ctx.out.error(&msg);
            None
        }
    }
}

fn deluser(ctx: &mut ConnCtx<'_>) -> Option<Gone> {
    let names: Vec<&[u8]> = ctx.args.iter().skip(2).collect();
    if names.iter().any(|n| *n == b"default") {
        ctx.out.error("ERR The 'default' user cannot be removed");
        return None;
    }
    let n = acl::del_users(&names);
    ctx.out.int(n as i64);
    let names: Vec<Vec<u8>> = names.iter().map(|n| n.to_vec()).collect();
    Some(Box::new(move |u| names.iter().any(|n| n == u)))
}

/// ACL LOAD: every user is replaced, and every connection of a user
/// other than `default` is closed, as Redis 7.0 frees the old users.
fn load(ctx: &mut ConnCtx<'_>) -> Option<Gone> {
    let Some(path) = acl::aclfile() else {
        ctx.out.error(&format!("ERR {}", acl::NO_ACLFILE));
        return None;
    };
    match acl::load_file(&path) {
        Ok(()) => {
            ctx.out.ok();
            Some(Box::new(|u| u != b"default"))
        }
        Err(e) => {
            ctx.out.error(&format!("ERR {e}"));
            None
        }
    }
}

fn acl_save(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let Some(path) = acl::aclfile() else {
        ctx.out.error(&format!("ERR {}", acl::NO_ACLFILE));
        return ConnAction::Continue;
    };
    match acl::save_file(&path) {
        Ok(()) => ctx.out.ok(),
        Err(e) => ctx.out.error(&format!("ERR {e}")),
    }
    ConnAction::Continue
}

fn acl_list(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let users = acl::users();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(u.describe().as_bytes());
    }
    ConnAction::Continue
}

fn acl_users(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let users = acl::users();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(&u.name);
    }
    ConnAction::Continue
}

fn acl_whoami(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let name = ctx.session.login.name().to_vec();
    ctx.out.bulk(&name);
    ConnAction::Continue
}

/// GETUSER: Redis 7's map of flags, passwords, the root rules, and the
/// selectors (kevy keeps none).
fn acl_getuser(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let Some(u) = acl::get(ctx.args.get(2)) else {
        ctx.out.null();
        return ConnAction::Continue;
    };
    reply_user(&mut ctx.out, &u);
    ConnAction::Continue
}

fn reply_user(out: &mut Reply<'_>, u: &User) {
    out.map(6);
    out.bulk(b"flags");
    let flags = u.flags();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(u.passwords.len());
    for p in &u.passwords {
        out.bulk(p.as_bytes());
    }
    out.bulk(b"commands");
    out.bulk(u.describe_commands().as_bytes());
    out.bulk(b"keys");
    out.bulk(u.describe_keys().as_bytes());
    out.bulk(b"channels");
    out.bulk(u.describe_channels().as_bytes());
    out.bulk(b"selectors");
    out.array(0);
}

/// CAT: the categories, or the commands (and subcommands) of one, in
/// table order.
fn acl_cat(ctx: &mut ConnCtx<'_>) -> ConnAction {
    if ctx.args.len() > 3 {
        return syntax_error(ctx);
    }
    if ctx.args.len() == 2 {
        ctx.out.array(acl::CATEGORIES.len());
        for c in acl::CATEGORIES {
            ctx.out.bulk(c.as_bytes());
        }
        return ConnAction::Continue;
    }
    let name = ctx.args.get(2);
    let Some(c) = acl::CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
    else {
        let msg = format!("ERR Unknown category '{}'", c_str(name, usize::MAX));
        ctx.out.error(&msg);
        return ConnAction::Continue;
    };
    let names: Vec<&str> = acl::index()
        .entries
        .iter()
        .filter(|e| e.cats & (1 << c) != 0)
        .map(|e| e.name)
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    ConnAction::Continue
}

/// Redis's reply to a subcommand given the wrong arguments.
fn syntax_error(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let msg = format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        c_str(ctx.args.get(1), 128)
    );
    ctx.out.error(&msg);
    ConnAction::Continue
}

/// GENPASS [bits]: random hex, four bits a character, rounded up.
fn acl_genpass(ctx: &mut ConnCtx<'_>) -> ConnAction {
    if ctx.args.len() > 3 {
        return syntax_error(ctx);
    }
    let bits = if ctx.args.len() == 3 {
        match parse_i64(ctx.args.get(2)) {
            Some(b) if (1..=4096).contains(&b) => b as usize,
            None => {
                ctx.out.error("ERR value is not an integer or out of range");
                return ConnAction::Continue;
            }
            Some(_) => {
                ctx.out.error(
                    "ERR ACL GENPASS argument must be the number of bits for the output \
                     password, a positive number up to 4096",
                );
                return ConnAction::Continue;
            }
        }
    } else {
        256
    };
    let chars = bits.div_ceil(4);
    match random_bytes(chars.div_ceil(2)) {
        Ok(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            ctx.out.bulk(&hex.as_bytes()[..chars]);
        }
        Err(e) => ctx.out.error(&format!("ERR cannot read random bytes: {e}")),
    }
    ConnAction::Continue
}

fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// LOG [count | RESET]: the newest entries first, ten by default.
fn acl_log(ctx: &mut ConnCtx<'_>) -> ConnAction {
    if ctx.args.len() > 3 {
        return syntax_error(ctx);
    }
    let mut count = 10;
    if ctx.args.len() == 3 {
        let a = ctx.args.get(2);
        if a.eq_ignore_ascii_case(b"reset") {
            acl::log_reset();
            ctx.out.ok();
            return ConnAction::Continue;
        }
        match parse_i64(a) {
            Some(n) => count = n.max(0) as usize,
            None => {
                ctx.out.error("ERR value is not an integer or out of range");
                return ConnAction::Continue;
            }
        }
    }
    let now = kevy_sys::clock::unix_ms();
    let entries = acl::log_entries(count);
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.map(7);
        ctx.out.bulk(b"count");
        ctx.out.int(e.count as i64);
        ctx.out.bulk(b"reason");
        ctx.out.bulk(e.reason.as_bytes());
        ctx.out.bulk(b"context");
        ctx.out.bulk(e.context.as_bytes());
        ctx.out.bulk(b"object");
        ctx.out.bulk(&e.object);
        ctx.out.bulk(b"username");
        ctx.out.bulk(&e.username);
        ctx.out.bulk(b"age-seconds");
        ctx.out
            .double(now.saturating_sub(e.created_ms) as f64 / 1000.0);
        ctx.out.bulk(b"client-info");
        ctx.out.bulk(e.client_info.as_bytes());
    }
    ConnAction::Continue
}

/// DRYRUN user command [arg …]: OK, or why the user may not run it (as a
/// bulk string, Redis's verbose message).
fn acl_dryrun(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let name = ctx.args.get(2);
    let Some(u) = acl::get(name) else {
        let msg = format!("ERR User '{}' not found", c_str(name, usize::MAX));
        ctx.out.error(&msg);
        return ConnAction::Continue;
    };
    let inner = kevy_resp::OwnedArgs::from_slices(ctx.args.iter().skip(3));
    let args = inner.args();
    let table = &ctx.server.table;
    let not_found = |ctx: &mut ConnCtx<'_>| {
        let msg = format!("ERR Command '{}' not found", c_str(args.get(0), usize::MAX));
        ctx.out.error(&msg);
        ConnAction::Continue
    };
    let Some(cmd) = table.lookup(args.get(0)) else {
        return not_found(ctx);
    };
    let spec = table.get(cmd);
    let subs = table.subs(cmd);
    let (fullname, arity) = if subs.is_empty() || args.len() < 2 {
        (spec.name, spec.arity)
    } else {
        match subs
            .iter()
            .find(|s| s.short().as_bytes().eq_ignore_ascii_case(args.get(1)))
        {
            Some(s) => (s.name, s.arity),
            None => return not_found(ctx),
        }
    };
    if !crate::table::arity_ok(arity, args.len()) {
        let msg = format!("ERR wrong number of arguments for '{fullname}' command");
        ctx.out.error(&msg);
        return ConnAction::Continue;
    }
    match acl::check(&u, table, cmd, args) {
        Ok(()) => ctx.out.ok(),
        Err(d) => {
            let why = match d {
                acl::Denied::Command => {
                    format!("This user has no permissions to run the '{fullname}' command")
                }
                acl::Denied::Key(i) => format!(
                    "This user has no permissions to access the '{}' key",
                    c_str(args.get(i), usize::MAX)
                ),
                acl::Denied::Channel(i) => format!(
                    "This user has no permissions to access the '{}' channel",
                    c_str(args.get(i), usize::MAX)
                ),
            };
            ctx.out.bulk(why.as_bytes());
        }
    }
    ConnAction::Continue
}

fn acl_help(ctx: &mut ConnCtx<'_>) -> ConnAction {
    reply_help(
        ctx,
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    ConnAction::Continue
}
