//! The persistence family: SAVE, BGSAVE and BGREWRITEAOF (LASTSAVE is in
//! the server family, INFO persistence in INFO). All are whole-keyspace
//! commands: one part per shard, each part that shard's cut (see
//! persist.rs for why the cuts make one moment, aof.rs for what the
//! rewrite makes of it).

use crate::ctx::Ctx;
use crate::persist;
use crate::table::{flag, CommandSpec, RouteKind, Table};
use kevy_rt::Fold;

pub fn register(t: &mut Table) {
    use flag::*;
    const ACL: &[&str] = &["@admin", "@slow", "@dangerous"];
    let whole = |name, arity, flags, run| CommandSpec {
        first: 0,
        last: 0,
        step: 0,
        route: RouteKind::All(Fold::Agree),
        ..CommandSpec::single_key(name, arity, flags, ACL, run)
    };
    t.add(whole(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        cmd_save,
    ));
    t.add(whole(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        cmd_bgrewriteaof,
    ));
    t.add(whole(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        cmd_bgsave,
    ));
}

fn cmd_save(ctx: &mut Ctx<'_>) {
    match persist::save_part(ctx.shard) {
        Ok(_) => ctx.out.ok(),
        Err(e) => ctx.out.error(&e),
    }
}

/// BGSAVE [SCHEDULE]. A save point or an AOF rewrite never holds a BGSAVE
/// back (kevy's rewrite does not fork), so SCHEDULE starts at once too.
fn cmd_bgsave(ctx: &mut Ctx<'_>) {
    match ctx.args.len() {
        1 => {}
        2 if ctx.args.get(1).eq_ignore_ascii_case(b"schedule") => {}
        _ => return ctx.out.error("ERR syntax error"),
    }
    match persist::bgsave_part(ctx.shard) {
        Ok(()) => ctx.out.simple(persist::STARTED.as_bytes()),
        Err(e) => ctx.out.error(e),
    }
}

/// BGREWRITEAOF. kevy's rewrite needs no fork, so it never waits for a
/// BGSAVE ("scheduled" in Redis): it starts at once.
fn cmd_bgrewriteaof(ctx: &mut Ctx<'_>) {
    // The server's own command (client 0) says which shard issued it: a
    // switch of `appendonly` needs it (aof.rs).
    let issuer = (ctx.client.id == 0).then_some(ctx.client.home as usize);
    match crate::aof::rewrite_part(ctx.shard, issuer) {
        Ok(()) => ctx.out.simple(crate::aof::RW_STARTED.as_bytes()),
        Err(e) => ctx.out.error(e),
    }
}
