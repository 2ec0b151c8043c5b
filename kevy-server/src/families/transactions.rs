//! The transaction family: MULTI, EXEC, DISCARD, WATCH and UNWATCH. The
//! runtime runs them itself (they need the connection's queue and every
//! shard's locks, see kevy-rt's crate doc), so their entries here carry the
//! facts COMMAND reports and a route that names the operation; the handler
//! is never reached.

use super::common::conn_spec;
use crate::ctx::ConnCtx;
use crate::table::{flag, CommandSpec, RouteKind, Table};
use kevy_rt::{ConnAction, TxOp};

pub fn register(t: &mut Table) {
    use flag::*;
    const FAST_ACL: &[&str] = &["@fast", "@transaction"];
    let quick = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;
    t.add(tx_spec("multi", 1, quick, FAST_ACL, TxOp::Multi));
    t.add(tx_spec(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        &["@slow", "@transaction"],
        TxOp::Exec,
    ));
    t.add(tx_spec("discard", 1, quick, FAST_ACL, TxOp::Discard));
    t.add(CommandSpec {
        first: 1,
        last: -1,
        step: 1,
        ..tx_spec("watch", -2, quick, FAST_ACL, TxOp::Watch)
    });
    t.add(tx_spec("unwatch", 1, quick, FAST_ACL, TxOp::Unwatch));
}

fn tx_spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    acl: &'static [&'static str],
    op: TxOp,
) -> CommandSpec {
    CommandSpec {
        route: RouteKind::Tx(op),
        ..conn_spec(name, arity, flags, acl, run_in_runtime)
    }
}

/// Never called: the runtime handles `RouteKind::Tx` commands.
fn run_in_runtime(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.error("ERR transaction commands run in the runtime");
    ConnAction::Continue
}
