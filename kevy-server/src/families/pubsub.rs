//! The pub/sub family: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
//! PUBLISH, their sharded forms and PUBSUB. The runtime runs them (it owns
//! the subscriptions, which belong to connections: kevy-rt's crate doc,
//! "Pub/sub"); this file declares them and answers what needs no
//! subscription (PUBSUB HELP, the subscribed-mode refusal).

use super::common::{c_str, conn_spec, dispatch, find_sub, reply_help};
use crate::ctx::ConnCtx;
use crate::table::{flag, CommandSpec, Handler, RouteKind, SubSpec, Table};
use kevy_resp::Args;
use kevy_rt::{ClientCtx, ConnAction, PubSubOp, Route};

pub fn register(t: &mut Table) {
    use flag::*;
    const ACL: &[&str] = &["@pubsub", "@slow"];
    const FAST_ACL: &[&str] = &["@pubsub", "@fast"];
    let sub = PUBSUB | NOSCRIPT | LOADING | STALE;
    let publish = PUBSUB | LOADING | STALE | FAST;
    t.add(spec("subscribe", -2, sub, ACL, PubSubOp::Subscribe));
    t.add(spec("unsubscribe", -1, sub, ACL, PubSubOp::Unsubscribe));
    t.add(spec("psubscribe", -2, sub, ACL, PubSubOp::PSubscribe));
    t.add(spec("punsubscribe", -1, sub, ACL, PubSubOp::PUnsubscribe));
    t.add(spec("publish", 3, publish, FAST_ACL, PubSubOp::Publish));
    // The sharded commands name their channel where a key would be, as
    // Redis's table does (a `not_key` spec: the channel picks the slot in
    // a cluster); kevy routes them like the others.
    t.add(CommandSpec {
        first: 1,
        last: -1,
        step: 1,
        ..spec("ssubscribe", -2, sub, ACL, PubSubOp::SSubscribe)
    });
    t.add(CommandSpec {
        first: 1,
        last: -1,
        step: 1,
        ..spec("sunsubscribe", -1, sub, ACL, PubSubOp::SUnsubscribe)
    });
    t.add(CommandSpec {
        first: 1,
        last: 1,
        step: 1,
        ..spec("spublish", 3, publish, FAST_ACL, PubSubOp::SPublish)
    });
    let mut pubsub = conn_spec("pubsub", -2, 0, &["@slow"], cmd_pubsub);
    pubsub.route = RouteKind::Custom(route_pubsub);
    t.add_container(pubsub, PUBSUB_SUBS);
}

/// A command the runtime runs; its handler is never reached through the
/// table's routing (the runtime answers).
fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    acl: &'static [&'static str],
    op: PubSubOp,
) -> CommandSpec {
    CommandSpec {
        first: 0,
        last: 0,
        step: 0,
        route: RouteKind::PubSub(op),
        run: Handler::Conn(not_here),
        ..conn_spec(name, arity, flags, acl, not_here)
    }
}

fn not_here(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out
        .error("ERR Command not allowed inside a transaction");
    ConnAction::Continue
}

const SUB_FLAGS: u32 = flag::PUBSUB | flag::LOADING | flag::STALE;
const SUB_ACL: &[&str] = &["@pubsub", "@slow"];

static PUBSUB_SUBS: &[SubSpec] = &[
    SubSpec {
        name: "pubsub|channels",
        arity: -2,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        run: not_here,
    },
    SubSpec {
        name: "pubsub|help",
        arity: 2,
        flags: flag::LOADING | flag::STALE,
        acl: &["@slow"],
        run: pubsub_help,
    },
    SubSpec {
        name: "pubsub|numpat",
        arity: 2,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        run: not_here,
    },
    SubSpec {
        name: "pubsub|numsub",
        arity: -2,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        run: not_here,
    },
    SubSpec {
        name: "pubsub|shardchannels",
        arity: -2,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        run: not_here,
    },
    SubSpec {
        name: "pubsub|shardnumsub",
        arity: -2,
        flags: SUB_FLAGS,
        acl: SUB_ACL,
        run: not_here,
    },
];

fn cmd_pubsub(ctx: &mut ConnCtx<'_>) -> ConnAction {
    dispatch(ctx, PUBSUB_SUBS)
}

/// PUBSUB's route: the introspection subcommands read every shard's
/// subscriptions (the runtime's directory); HELP and the errors for an
/// unknown subcommand or a wrong argument count are answered here.
pub fn route_pubsub(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    let Ok(sub) = find_sub(args, PUBSUB_SUBS) else {
        return Ok(Route::Conn);
    };
    // The table's arity lets any count through; CHANNELS and
    // SHARDCHANNELS take one pattern at most, as Redis's own check says.
    let patterned = matches!(sub.short(), "channels" | "shardchannels");
    if patterned && args.len() > 3 {
        return Err(super::common::subcommand_syntax_error(args));
    }
    Ok(match sub.short() {
        "channels" => Route::PubSub(PubSubOp::Channels),
        "numsub" => Route::PubSub(PubSubOp::NumSub),
        "numpat" => Route::PubSub(PubSubOp::NumPat),
        "shardchannels" => Route::PubSub(PubSubOp::ShardChannels),
        "shardnumsub" => Route::PubSub(PubSubOp::ShardNumSub),
        _ => Route::Conn,
    })
}

fn pubsub_help(ctx: &mut ConnCtx<'_>) -> ConnAction {
    reply_help(
        ctx,
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    ConnAction::Continue
}

/// What a RESP2 connection with subscriptions gets for `name` (the
/// command's full name, `container|sub` for a subcommand), or `None` for
/// the commands Redis allows there.
pub fn subscribed_refusal(name: &str) -> Option<Vec<u8>> {
    const ALLOWED: &[&str] = &[
        "ping",
        "subscribe",
        "ssubscribe",
        "unsubscribe",
        "sunsubscribe",
        "psubscribe",
        "punsubscribe",
        "quit",
        "reset",
    ];
    if ALLOWED.contains(&name) {
        return None;
    }
    Some(
        format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context",
            c_str(name.as_bytes(), usize::MAX)
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribed_mode_allows_what_redis_allows() {
        for name in ["ping", "subscribe", "punsubscribe", "quit", "reset"] {
            assert_eq!(subscribed_refusal(name), None, "{name}");
        }
        assert_eq!(
            String::from_utf8(subscribed_refusal("client|list").unwrap()).unwrap(),
            "ERR Can't execute 'client|list': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / \
             QUIT / RESET are allowed in this context"
        );
        assert!(subscribed_refusal("publish").is_some());
    }

    #[test]
    fn pubsub_routes_its_introspection_to_the_runtime() {
        let route = |argv: &[&str]| {
            let owned = kevy_resp::OwnedArgs::from_slices(argv.iter().map(|a| a.as_bytes()));
            let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
            let client = ClientCtx {
                id: 1,
                db: 0,
                resp3: false,
                home: 0,
                peer: unspecified,
                local: unspecified,
                created_ms: 0,
                subscribed: false,
                unix: false,
                tracking: Default::default(),
                checked: false,
                no_touch: false,
            };
            route_pubsub(owned.args(), &client, 2).unwrap()
        };
        assert_eq!(
            route(&["pubsub", "numsub", "a"]),
            Route::PubSub(PubSubOp::NumSub)
        );
        assert_eq!(
            route(&["PUBSUB", "ShardChannels"]),
            Route::PubSub(PubSubOp::ShardChannels)
        );
        // A wrong count or an unknown subcommand is answered at home.
        assert_eq!(route(&["pubsub", "numpat", "x"]), Route::Conn);
        assert_eq!(route(&["pubsub", "nope"]), Route::Conn);
        assert_eq!(route(&["pubsub", "help"]), Route::Conn);
    }
}
