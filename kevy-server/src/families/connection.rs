//! The connection command family: PING, ECHO, QUIT, SELECT, AUTH, HELLO,
//! RESET and CLIENT. Each runs on the connection's home thread and touches
//! only that connection's state ([`kevy_rt::ClientCtx`] and [`Session`]),
//! except CLIENT LIST and KILL, which the runtime hands every shard's
//! connections ([`clients_with`]).
//!
//! AUTH, HELLO's AUTH and RESET change who the connection is (its
//! [`crate::acl::Login`]), and with it whether the runtime puts its commands
//! to the access check (`ClientCtx::checked`).

use super::common::{c_str, conn_spec, dispatch, find_sub, reply_help, REDIS_VERSION};
use crate::ctx::{ConnCtx, Session};
use crate::table::{flag, RouteKind, SubSpec, Table};
use kevy_resp::Args;
use kevy_rt::{ClientCtx, ClientInfo, ClientsChosen, ConnAction, Route, Tracking};
use kevy_store::num::parse_i64;

use crate::acl::WRONGPASS;
const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

pub fn register(t: &mut Table) {
    use flag::*;
    const ACL: &[&str] = &["@fast", "@connection"];
    // What a client may send before authenticating, or while a script runs.
    let handshake = NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY;
    t.add(conn_spec("ping", -1, FAST, ACL, cmd_ping));
    t.add(conn_spec("echo", 2, LOADING | STALE | FAST, ACL, cmd_echo));
    t.add(conn_spec(
        "select",
        2,
        LOADING | STALE | FAST,
        ACL,
        cmd_select,
    ));
    t.add(conn_spec("quit", -1, handshake, ACL, cmd_quit));
    t.add(conn_spec("auth", -2, handshake, ACL, cmd_auth));
    t.add(conn_spec("hello", -1, handshake, ACL, cmd_hello));
    t.add(conn_spec("reset", 1, handshake, ACL, cmd_reset));
    let mut client = conn_spec("client", -2, 0, &["@slow"], cmd_client);
    client.route = RouteKind::Custom(route_client);
    t.add_container(client, CLIENT_SUBS);
}

fn cmd_ping(ctx: &mut ConnCtx<'_>) -> ConnAction {
    // PING's arity is -1 so that the wrong count gets PING's own error text.
    if ctx.client.subscribed && !ctx.client.resp3 && ctx.args.len() <= 2 {
        // A RESP2 subscriber gets PING's answer in a message's shape.
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(if ctx.args.len() == 2 {
            ctx.args.get(1)
        } else {
            b""
        });
        return ConnAction::Continue;
    }
    match ctx.args.len() {
        1 => ctx.out.simple(b"PONG"),
        2 => ctx.out.bulk(ctx.args.get(1)),
        _ => ctx
            .out
            .error("ERR wrong number of arguments for 'ping' command"),
    }
    ConnAction::Continue
}

fn cmd_echo(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.bulk(ctx.args.get(1));
    ConnAction::Continue
}

fn cmd_quit(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.ok();
    ConnAction::Close
}

fn cmd_select(ctx: &mut ConnCtx<'_>) -> ConnAction {
    // Redis reads the index as a C `int` first, then checks the database.
    let Some(n) = parse_i64(ctx.args.get(1)) else {
        ctx.out.error("ERR value is not an integer or out of range");
        return ConnAction::Continue;
    };
    if i32::try_from(n).is_err() {
        ctx.out
            .error("ERR value is out of range, value must between -2147483648 and 2147483647");
    } else if !(0..crate::server::databases() as i64).contains(&n) {
        ctx.out.error("ERR DB index is out of range");
    } else {
        ctx.client.db = n as u32;
        ctx.out.ok();
    }
    ConnAction::Continue
}

/// Authenticates the connection as `user`; a failure is logged as Redis
/// logs it (reason `auth`).
fn authenticate(ctx: &mut ConnCtx<'_>, user: &[u8], password: &[u8]) -> bool {
    if ctx.session.login.authenticate(user, password) {
        ctx.client.checked = !ctx.session.login.unchecked();
        return true;
    }
    let now = kevy_sys::clock::unix_ms();
    let name = String::from_utf8_lossy(ctx.args.get(0)).to_ascii_lowercase();
    crate::acl::log_denial(crate::acl::LogEntry {
        count: 1,
        reason: "auth",
        context: "toplevel",
        object: b"AUTH".to_vec(),
        username: user.to_vec(),
        created_ms: now,
        updated_ms: now,
        client_info: crate::acl::client_info(ctx.client, ctx.session, &name, now),
    });
    false
}

fn cmd_auth(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let (user, password) = match ctx.args.len() {
        2 => {
            if crate::acl::default_user().nopass {
                ctx.out.error(
                    "ERR AUTH <password> called without any password configured for the \
                     default user. Are you sure your configuration is correct?",
                );
                return ConnAction::Continue;
            }
            (&b"default"[..], ctx.args.get(1))
        }
        3 => (ctx.args.get(1), ctx.args.get(2)),
        _ => {
            ctx.out.error("ERR syntax error");
            return ConnAction::Continue;
        }
    };
    if authenticate(ctx, user, password) {
        ctx.out.ok();
    } else {
        ctx.out.error(WRONGPASS);
    }
    ConnAction::Continue
}

/// HELLO [protover [AUTH user pass] [SETNAME name]]: checks everything
/// before changing anything, then switches protocol and answers in the new
/// one.
fn cmd_hello(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let args = ctx.args;
    let mut proto = None;
    if args.len() >= 2 {
        let Some(v) = parse_i64(args.get(1)) else {
            ctx.out
                .error("ERR Protocol version is not an integer or out of range");
            return ConnAction::Continue;
        };
        if !(2..=3).contains(&v) {
            ctx.out.error("NOPROTO unsupported protocol version");
            return ConnAction::Continue;
        }
        proto = Some(v);
    }
    let (mut user, mut name) = (None, None);
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            user = Some((args.get(j + 1), args.get(j + 2)));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            if !valid_attr(args.get(j + 1)) {
                ctx.out.error(BAD_NAME);
                return ConnAction::Continue;
            }
            name = Some(args.get(j + 1));
            j += 2;
        } else {
            let msg = format!(
                "ERR Syntax error in HELLO option '{}'",
                c_str(opt, usize::MAX)
            );
            ctx.out.error(&msg);
            return ConnAction::Continue;
        }
    }
    if let Some((u, p)) = user {
        if !authenticate(ctx, u, p) {
            ctx.out.error(WRONGPASS);
            return ConnAction::Continue;
        }
    }
    ctx.session.login.refresh();
    if !ctx.session.login.authenticated && crate::acl::auth_required() {
        ctx.out.error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time",
        );
        return ConnAction::Continue;
    }
    if let Some(n) = name {
        ctx.session.name = attr_value(n);
    }
    if let Some(v) = proto {
        ctx.client.resp3 = v == 3;
        ctx.out.resp3 = v == 3;
    }
    let out = &mut ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if ctx.client.resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    ConnAction::Continue
}

/// RESET: the connection becomes a new one (database 0, RESP2, no name,
/// tracking off, and whatever else the session holds, such as a
/// transaction), except for the library name and version, which still
/// describe the client.
fn cmd_reset(ctx: &mut ConnCtx<'_>) -> ConnAction {
    crate::tracking::disable(ctx.server, ctx.client, ctx.session);
    ctx.client.db = 0;
    ctx.client.resp3 = false;
    let lib_name = ctx.session.lib_name.take();
    let lib_ver = ctx.session.lib_ver.take();
    *ctx.session = Session {
        lib_name,
        lib_ver,
        // Its reads may still be remembered: closing it forgets them.
        tracked: ctx.session.tracked,
        // The default user again, authenticated only if it needs no
        // password (Redis's `clientSetDefaultAuth`).
        login: crate::acl::Login::fresh(),
        ..Session::default()
    };
    ctx.client.checked = !ctx.session.login.unchecked();
    ctx.out.simple(b"RESET");
    // The runtime drops the MULTI queue and the WATCHes.
    ConnAction::Reset
}

/// Redis's check for names shown in CLIENT LIST: printable ASCII without
/// spaces, so the list can be split on spaces. Like Redis (a C string), it
/// stops looking at a NUL byte.
fn valid_attr(v: &[u8]) -> bool {
    v.iter()
        .take_while(|&&b| b != 0)
        .all(|b| (b'!'..=b'~').contains(b))
}

/// An empty value unsets the attribute.
fn attr_value(v: &[u8]) -> Option<Vec<u8>> {
    (!v.is_empty()).then(|| v.to_vec())
}

// ---------------------------------------------------------------------------
// CLIENT
// ---------------------------------------------------------------------------

const SUB: u32 = flag::NOSCRIPT | flag::LOADING | flag::STALE;
const SUB_ACL: &[&str] = &["@slow", "@connection"];

/// CLIENT's subcommands, in the order Redis 7.0's COMMAND INFO gives them.
pub(super) static CLIENT_SUBS: &[SubSpec] = &[
    SubSpec {
        name: "client|pause",
        arity: -3,
        flags: flag::ADMIN | SUB,
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        run: client_pause,
    },
    SubSpec {
        name: "client|no-evict",
        arity: 3,
        flags: flag::ADMIN | SUB,
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        run: client_no_evict,
    },
    SubSpec {
        name: "client|no-touch",
        arity: 3,
        flags: SUB,
        acl: SUB_ACL,
        run: client_no_touch,
    },
    SubSpec {
        name: "client|unpause",
        arity: 2,
        flags: flag::ADMIN | SUB,
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        run: client_unpause,
    },
    SubSpec {
        name: "client|reply",
        arity: 3,
        flags: SUB,
        acl: SUB_ACL,
        run: client_reply,
    },
    SubSpec {
        name: "client|trackinginfo",
        arity: 2,
        flags: SUB,
        acl: SUB_ACL,
        run: client_trackinginfo,
    },
    SubSpec {
        name: "client|info",
        arity: 2,
        flags: SUB,
        acl: SUB_ACL,
        run: client_info,
    },
    SubSpec {
        name: "client|getname",
        arity: 2,
        flags: SUB,
        acl: SUB_ACL,
        run: client_getname,
    },
    SubSpec {
        name: "client|id",
        arity: 2,
        flags: SUB,
        acl: SUB_ACL,
        run: client_id,
    },
    SubSpec {
        name: "client|unblock",
        arity: -3,
        flags: flag::ADMIN | SUB,
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        run: client_unblock,
    },
    SubSpec {
        name: "client|kill",
        arity: -3,
        flags: flag::ADMIN | SUB,
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        run: client_kill,
    },
    SubSpec {
        name: "client|list",
        arity: -2,
        flags: flag::ADMIN | SUB,
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        run: client_list,
    },
    SubSpec {
        name: "client|getredir",
        arity: 2,
        flags: SUB,
        acl: SUB_ACL,
        run: client_getredir,
    },
    SubSpec {
        name: "client|setname",
        arity: 3,
        flags: SUB,
        acl: SUB_ACL,
        run: client_setname,
    },
    SubSpec {
        name: "client|setinfo",
        arity: 4,
        flags: SUB,
        acl: SUB_ACL,
        run: client_setinfo,
    },
    SubSpec {
        name: "client|caching",
        arity: 3,
        flags: SUB,
        acl: SUB_ACL,
        run: client_caching,
    },
    SubSpec {
        name: "client|help",
        arity: 2,
        flags: flag::LOADING | flag::STALE,
        acl: SUB_ACL,
        run: client_help,
    },
    SubSpec {
        name: "client|tracking",
        arity: -3,
        flags: SUB,
        acl: SUB_ACL,
        run: client_tracking_here,
    },
];

fn cmd_client(ctx: &mut ConnCtx<'_>) -> ConnAction {
    dispatch(ctx, CLIENT_SUBS)
}

fn client_help(ctx: &mut ConnCtx<'_>) -> ConnAction {
    reply_help(
        ctx,
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    );
    ConnAction::Continue
}

fn client_id(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.int(ctx.client.id as i64);
    ConnAction::Continue
}

fn client_getname(ctx: &mut ConnCtx<'_>) -> ConnAction {
    match &ctx.session.name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ConnAction::Continue
}

fn client_setname(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let name = ctx.args.get(2);
    if valid_attr(name) {
        ctx.session.name = attr_value(name);
        ctx.out.ok();
    } else {
        ctx.out.error(BAD_NAME);
    }
    ConnAction::Continue
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value, as Redis 7.2 has it (clients such
/// as go-redis send it on every connection).
fn client_setinfo(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let (attr, value) = (ctx.args.get(2), ctx.args.get(3));
    let slot = if attr.eq_ignore_ascii_case(b"lib-name") {
        &mut ctx.session.lib_name
    } else if attr.eq_ignore_ascii_case(b"lib-ver") {
        &mut ctx.session.lib_ver
    } else {
        let msg = format!("ERR Unrecognized option '{}'", c_str(attr, usize::MAX));
        ctx.out.error(&msg);
        return ConnAction::Continue;
    };
    if !valid_attr(value) {
        let msg = format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            c_str(attr, usize::MAX)
        );
        ctx.out.error(&msg);
        return ConnAction::Continue;
    }
    *slot = attr_value(value);
    ctx.out.ok();
    ConnAction::Continue
}

/// This connection as the runtime would describe it, for CLIENT LIST,
/// INFO and KILL run as connection commands (inside MULTI), where only the
/// caller is known.
fn self_info(ctx: &ConnCtx<'_>) -> ClientInfo {
    let c = &*ctx.client;
    let s = &*ctx.session;
    let age = (kevy_sys::clock::unix_ms() / 1000).saturating_sub(c.created_ms / 1000);
    ClientInfo {
        id: c.id,
        no_evict: s.no_evict,
        no_touch: c.no_touch,
        home: c.home,
        peer: c.peer,
        local: c.local,
        unix: c.unix,
        fd: -1,
        name: s.name.clone().unwrap_or_default(),
        lib_name: s.lib_name.clone().unwrap_or_default(),
        lib_ver: s.lib_ver.clone().unwrap_or_default(),
        user: b"default".to_vec(),
        cmd: String::new(),
        age_secs: age,
        idle_secs: 0,
        db: c.db,
        resp: if c.resp3 { 3 } else { 2 },
        multi: -1,
        multi_mem: 0,
        monitor: false,
        sub: 0,
        psub: 0,
        ssub: 0,
        qbuf: 0,
        qbuf_free: 0,
        obl: 0,
        oll: 0,
        omem: 0,
        tot_mem: 0,
        events: "r",
        is_caller: true,
        blocked: false,
        paused: false,
        tracking: c.tracking,
        redirect: s.tracking_redirect.0,
    }
}

/// One CLIENT LIST line, in Redis 7.2's field order. The caller's `cmd` is
/// the command it is running, with the subcommand; another connection's is
/// the last command it ran (a container without its subcommand).
pub(crate) fn client_line(out: &mut String, i: &ClientInfo, caller_cmd: &str, argv_mem: usize) {
    use std::fmt::Write;
    let attr = |v: &[u8]| c_str(v, usize::MAX);
    let mut flags = String::new();
    if i.monitor {
        flags.push('O');
    }
    if i.sub + i.psub + i.ssub > 0 {
        flags.push('P');
    }
    if i.multi >= 0 {
        flags.push('x');
    }
    if i.blocked || i.paused {
        flags.push('b');
    }
    if i.tracking.on() {
        flags.push('t');
    }
    if i.tracking.has(Tracking::BROKEN) {
        flags.push('R');
    }
    if i.tracking.has(Tracking::BCAST) {
        flags.push('B');
    }
    if i.unix {
        flags.push('U');
    }
    if i.no_evict {
        flags.push('e');
    }
    if i.no_touch {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let cmd = if i.is_caller {
        caller_cmd
    } else if i.cmd.is_empty() {
        "NULL"
    } else {
        &i.cmd
    };
    let argv_mem = if i.is_caller { argv_mem } else { 0 };
    let redir = if i.tracking.on() {
        i.redirect as i64
    } else {
        -1
    };
    let _ = writeln!(
        out,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db={} sub={} psub={} \
         ssub={} multi={} qbuf={} qbuf-free={} argv-mem={argv_mem} multi-mem={} rbs={} rbp=0 \
         obl={} oll={} omem={} tot-mem={} events={} cmd={cmd} user={} redir={redir} resp={} \
         lib-name={} lib-ver={}",
        i.id,
        addr_text(i, i.peer),
        addr_text(i, i.local),
        i.fd,
        attr(&i.name),
        i.age_secs,
        i.idle_secs,
        i.db,
        i.sub,
        i.psub,
        i.ssub,
        i.multi,
        i.qbuf,
        i.qbuf_free,
        i.multi_mem,
        i.qbuf + i.qbuf_free,
        i.obl,
        i.oll,
        i.omem,
        i.tot_mem + argv_mem,
        i.events,
        attr(&i.user),
        i.resp,
        attr(&i.lib_name),
        attr(&i.lib_ver),
    );
}

/// Redis's client types, as TYPE filters name them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Master,
    Replica,
    PubSub,
}

fn client_type(t: &[u8]) -> Option<ClientType> {
    let t = t.to_ascii_lowercase();
    match &t[..] {
        b"normal" => Some(ClientType::Normal),
        b"master" => Some(ClientType::Master),
        b"slave" | b"replica" => Some(ClientType::Replica),
        b"pubsub" => Some(ClientType::PubSub),
        _ => None,
    }
}

fn type_of(i: &ClientInfo) -> ClientType {
    // No replication yet: a connection with a subscription is a pub/sub
    // client, every other one (monitors too, as in Redis) a normal client.
    if i.sub + i.psub + i.ssub > 0 {
        ClientType::PubSub
    } else {
        ClientType::Normal
    }
}

fn unknown_type(t: &[u8]) -> String {
    format!("ERR Unknown client type '{}'", c_str(t, usize::MAX))
}

/// CLIENT LIST, INFO, KILL or UNBLOCK over `infos` (every connection, or
/// the caller only); what KILL closes and UNBLOCK releases.
pub fn clients_with(ctx: &mut ConnCtx<'_>, infos: &[ClientInfo]) -> ClientsChosen {
    let sub = match find_sub(ctx.args, CLIENT_SUBS) {
        Ok(s) => s.name,
        Err(msg) => {
            ctx.out.error(&msg);
            return ClientsChosen::default();
        }
    };
    let kill = |kill: Vec<u64>| ClientsChosen {
        kill,
        ..ClientsChosen::default()
    };
    let argv_mem: usize = ctx.args.iter().map(<[u8]>::len).sum();
    match sub {
        "client|info" => {
            let mut line = String::new();
            if let Some(me) = infos.iter().find(|i| i.is_caller) {
                client_line(&mut line, me, sub, argv_mem);
            }
            ctx.out.verbatim(b"txt", line.as_bytes());
            kill(Vec::new())
        }
        "client|list" => {
            list_clients(ctx, infos, argv_mem);
            kill(Vec::new())
        }
        "client|kill" => kill(kill_clients(ctx, infos)),
        "client|unblock" => unblock_clients(ctx, infos),
        "client|tracking" => {
            client_tracking(ctx, infos);
            kill(Vec::new())
        }
        _ => {
            (CLIENT_SUBS.iter().find(|s| s.name == sub).map(|s| s.run)).map(|run| run(ctx));
            kill(Vec::new())
        }
    }
}

/// CLIENT LIST [TYPE type | ID id ...], in client id order (the order
/// connections were made, as Redis lists them).
fn list_clients(ctx: &mut ConnCtx<'_>, infos: &[ClientInfo], argv_mem: usize) {
    let args = ctx.args;
    let mut ids: Option<Vec<u64>> = None;
    let mut kind = None;
    if args.len() == 4 && args.get(2).eq_ignore_ascii_case(b"type") {
        match client_type(args.get(3)) {
            Some(t) => kind = Some(t),
            None => return ctx.out.error(&unknown_type(args.get(3))),
        }
    } else if args.len() > 3 && args.get(2).eq_ignore_ascii_case(b"id") {
        let mut v = Vec::new();
        for a in args.iter().skip(3) {
            match parse_i64(a) {
                Some(id) if id >= 1 => v.push(id as u64),
                _ => return ctx.out.error("ERR Invalid client ID"),
            }
        }
        ids = Some(v);
    } else if args.len() != 2 {
        return ctx.out.error("ERR syntax error");
    }
    let mut sorted: Vec<&ClientInfo> = infos.iter().collect();
    sorted.sort_by_key(|i| i.id);
    let mut text = String::new();
    for i in sorted {
        if kind.is_some_and(|k| k != type_of(i)) {
            continue;
        }
        if ids.as_ref().is_some_and(|ids| !ids.contains(&i.id)) {
            continue;
        }
        client_line(&mut text, i, "client|list", argv_mem);
    }
    ctx.out.verbatim(b"txt", text.as_bytes());
}

/// CLIENT KILL ip:port, or CLIENT KILL with filters (ID, ADDR, LADDR, TYPE,
/// USER, SKIPME, MAXAGE): Redis 7's rules, MAXAGE as Redis 7.4 has it.
fn kill_clients(ctx: &mut ConnCtx<'_>, infos: &[ClientInfo]) -> Vec<u64> {
    let args = ctx.args;
    let mut id = None;
    let mut kind = None;
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut user: Option<&[u8]> = None;
    let mut max_age = None;
    let mut skipme = true;
    let old_style = args.len() == 3;
    if old_style {
        addr = Some(args.get(2));
        skipme = false;
    } else {
        let mut i = 2;
        while i < args.len() {
            let (opt, more) = (args.get(i), i + 1 < args.len());
            let val = if more { args.get(i + 1) } else { b"" };
            let is = |name: &[u8]| more && opt.eq_ignore_ascii_case(name);
            if is(b"id") {
                match parse_i64(val) {
                    Some(n) if n >= 1 => id = Some(n as u64),
                    _ => {
                        ctx.out.error("ERR client-id should be greater than 0");
                        return Vec::new();
                    }
                }
            } else if is(b"type") {
                match client_type(val) {
                    Some(t) => kind = Some(t),
                    None => {
                        ctx.out.error(&unknown_type(val));
                        return Vec::new();
                    }
                }
            } else if is(b"addr") {
                addr = Some(val);
            } else if is(b"laddr") {
                laddr = Some(val);
            } else if is(b"user") {
                if crate::acl::get(val).is_none() {
                    let msg = format!("ERR No such user '{}'", c_str(val, usize::MAX));
                    ctx.out.error(&msg);
                    return Vec::new();
                }
                user = Some(val);
            } else if is(b"skipme") {
                if val.eq_ignore_ascii_case(b"yes") {
                    skipme = true;
                } else if val.eq_ignore_ascii_case(b"no") {
                    skipme = false;
                } else {
                    ctx.out.error("ERR syntax error");
                    return Vec::new();
                }
            } else if is(b"maxage") {
                match parse_i64(val) {
                    Some(n) if n >= 1 => max_age = Some(n as u64),
                    _ => {
                        ctx.out.error("ERR maxage should be greater than 0");
                        return Vec::new();
                    }
                }
            } else {
                ctx.out.error("ERR syntax error");
                return Vec::new();
            }
            i += 2;
        }
    }
    let kill: Vec<u64> = infos
        .iter()
        .filter(|i| addr.is_none_or(|a| addr_text(i, i.peer).as_bytes() == a))
        .filter(|i| laddr.is_none_or(|a| addr_text(i, i.local).as_bytes() == a))
        .filter(|i| kind.is_none_or(|k| k == type_of(i)))
        .filter(|i| id.is_none_or(|id| i.id == id))
        .filter(|i| user.is_none_or(|u| i.user == u))
        .filter(|i| max_age.is_none_or(|m| i.age_secs >= m))
        .filter(|i| !(skipme && i.is_caller))
        .map(|i| i.id)
        .collect();
    if old_style {
        if kill.is_empty() {
            ctx.out.error("ERR No such client");
        } else {
            ctx.out.ok();
        }
    } else {
        ctx.out.int(kill.len() as i64);
    }
    kill
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when connection `id` is blocked in
/// a command that waits on keys (it is then released, answering as a
/// timeout would, or `-UNBLOCKED` with ERROR), else 0.
fn unblock_clients(ctx: &mut ConnCtx<'_>, infos: &[ClientInfo]) -> ClientsChosen {
    let args = ctx.args;
    let Some(id) = parse_i64(args.get(2)) else {
        ctx.out.error("ERR value is not an integer or out of range");
        return ClientsChosen::default();
    };
    let error = match args.len() {
        3 => false,
        4 if args.get(3).eq_ignore_ascii_case(b"timeout") => false,
        4 if args.get(3).eq_ignore_ascii_case(b"error") => true,
        4 => {
            ctx.out
                .error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return ClientsChosen::default();
        }
        _ => {
            ctx.out.error(&super::common::subcommand_syntax_error(args));
            return ClientsChosen::default();
        }
    };
    let blocked = infos
        .iter()
        .any(|i| i.id as i64 == id && i.blocked && !i.is_caller);
    ctx.out.int(blocked as i64);
    ClientsChosen {
        unblock: if blocked { vec![id as u64] } else { Vec::new() },
        unblock_error: error,
        ..ClientsChosen::default()
    }
}

/// CLIENT UNBLOCK inside MULTI: the caller, the only connection it sees,
/// is not blocked.
fn client_unblock(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let me = self_info(ctx);
    clients_with(ctx, &[me]);
    ConnAction::Continue
}

/// CLIENT INFO, LIST and KILL as connection commands (inside MULTI): the
/// caller is the only connection they see.
fn client_info(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let me = self_info(ctx);
    clients_with(ctx, &[me]);
    ConnAction::Continue
}

fn client_list(ctx: &mut ConnCtx<'_>) -> ConnAction {
    client_info(ctx)
}

fn client_kill(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let me = self_info(ctx);
    if clients_with(ctx, &[me]).kill.is_empty() {
        ConnAction::Continue
    } else {
        ConnAction::Close
    }
}

/// CLIENT's route: LIST and KILL see every connection on every shard, as
/// does TRACKING … REDIRECT (the target must exist, and its home is where
/// invalidations go); INFO the caller as the runtime describes it; the
/// rest run on the connection.
pub fn route_client(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    let sub = if args.len() > 1 { args.get(1) } else { b"" };
    let redirects = || {
        args.iter()
            .skip(3)
            .any(|a| a.eq_ignore_ascii_case(b"redirect"))
    };
    Ok(
        if sub.eq_ignore_ascii_case(b"list")
            || sub.eq_ignore_ascii_case(b"kill")
            || sub.eq_ignore_ascii_case(b"unblock")
            || (sub.eq_ignore_ascii_case(b"tracking") && redirects())
        {
            Route::Clients { all: true }
        } else if sub.eq_ignore_ascii_case(b"info") {
            Route::Clients { all: false }
        } else {
            Route::Conn
        },
    )
}

/// CLIENT TRACKING without REDIRECT, run on the connection: it needs no
/// other connection.
fn client_tracking_here(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let me = self_info(ctx);
    client_tracking(ctx, &[me]);
    ConnAction::Continue
}

const SWITCH_MODE: &str = "You can't switch BCAST mode on/off before disabling tracking for this \
     client, and then re-enabling it with a different mode.";
const SWITCH_OPT: &str = "You can't switch OPTIN/OPTOUT mode before disabling tracking for this \
     client, and then re-enabling it with a different mode.";

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p …] [OPTIN]
/// [OPTOUT] [NOLOOP], checked in Redis's order (`clientCommand`): the
/// options, each as it comes (a redirect target must exist among
/// `infos`), then ON or OFF, then whether the options agree with each
/// other and with the mode tracking is already in.
fn client_tracking(ctx: &mut ConnCtx<'_>, infos: &[ClientInfo]) {
    let args = ctx.args;
    let mut redirect: Option<(u64, u32)> = None;
    let mut options = 0u8;
    let mut prefixes: Vec<&[u8]> = Vec::new();
    let mut j = 3;
    while j < args.len() {
        let opt = args.get(j);
        let more = j + 1 < args.len();
        if opt.eq_ignore_ascii_case(b"redirect") && more {
            j += 1;
            if redirect.is_some() {
                return ctx
                    .out
                    .error("ERR A client can only redirect to a single other client");
            }
            let Some(id) = parse_i64(args.get(j)) else {
                return ctx.out.error("ERR value is not an integer or out of range");
            };
            match infos.iter().find(|i| i.id as i64 == id) {
                Some(i) => redirect = Some((i.id, i.home)),
                None => {
                    return ctx
                        .out
                        .error("ERR The client ID you want redirect to does not exist")
                }
            }
        } else if opt.eq_ignore_ascii_case(b"bcast") {
            options |= Tracking::BCAST;
        } else if opt.eq_ignore_ascii_case(b"optin") {
            options |= Tracking::OPTIN;
        } else if opt.eq_ignore_ascii_case(b"optout") {
            options |= Tracking::OPTOUT;
        } else if opt.eq_ignore_ascii_case(b"noloop") {
            options |= Tracking::NOLOOP;
        } else if opt.eq_ignore_ascii_case(b"prefix") && more {
            j += 1;
            prefixes.push(args.get(j));
        } else {
            return ctx.out.error("ERR syntax error");
        }
        j += 1;
    }
    let status = args.get(2);
    if status.eq_ignore_ascii_case(b"on") {
        let now = ctx.client.tracking;
        let bcast = options & Tracking::BCAST != 0;
        let (optin, optout) = (
            options & Tracking::OPTIN != 0,
            options & Tracking::OPTOUT != 0,
        );
        let err = if !bcast && !prefixes.is_empty() {
            Some("PREFIX option requires BCAST mode to be enabled".to_string())
        } else if now.on() && now.has(Tracking::BCAST) != bcast {
            Some(SWITCH_MODE.to_string())
        } else if bcast && (optin || optout) {
            Some("OPTIN and OPTOUT are not compatible with BCAST".to_string())
        } else if optin && optout {
            Some("You can't specify both OPTIN mode and OPTOUT mode".to_string())
        } else if (optin && now.has(Tracking::OPTOUT)) || (optout && now.has(Tracking::OPTIN)) {
            Some(SWITCH_OPT.to_string())
        } else if bcast {
            prefix_collision(&ctx.session.tracking_prefixes, &prefixes)
        } else {
            None
        };
        if let Some(e) = err {
            return ctx.out.error(&format!("ERR {e}"));
        }
        let redirect = redirect.unwrap_or((0, 0));
        crate::tracking::enable(ctx.server, ctx.client, ctx.session, options, redirect);
        if bcast {
            let mine = &mut ctx.session.tracking_prefixes;
            let given: Vec<&[u8]> = if prefixes.is_empty() {
                vec![b""]
            } else {
                prefixes
            };
            for p in given {
                if let Err(i) = mine.binary_search_by(|q| q.as_slice().cmp(p)) {
                    mine.insert(i, p.to_vec());
                }
            }
            crate::tracking::follow(ctx.server, ctx.client, mine);
        }
    } else if status.eq_ignore_ascii_case(b"off") {
        crate::tracking::disable(ctx.server, ctx.client, ctx.session);
    } else {
        return ctx.out.error("ERR syntax error");
    }
    ctx.out.ok();
}

/// Redis's `checkPrefixCollisionsOrReply`: two prefixes overlap when one
/// starts the other; none of `given` may overlap one the connection
/// follows, or another of `given`. (Redis also enables tracking and
/// answers `+OK` after this error when the overlap is between two given
/// prefixes past the first; kevy answers the error only.)
fn prefix_collision(existing: &[Vec<u8>], given: &[&[u8]]) -> Option<String> {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    let text = |b: &[u8]| c_str(b, usize::MAX);
    for (i, p) in given.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
            return Some(format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client \
                 must not overlap.",
                text(p),
                text(e)
            ));
        }
        if let Some(q) = given[i + 1..].iter().find(|q| overlap(p, q)) {
            return Some(format!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single \
                 client must not overlap.",
                text(p),
                text(q)
            ));
        }
    }
    None
}

/// CLIENT PAUSE timeout [WRITE|ALL]: the runtime holds every client's
/// commands (or the writing ones) on every shard for `timeout` ms.
fn client_pause(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let args = ctx.args;
    if args.len() > 4 {
        ctx.out.error(&super::common::subcommand_syntax_error(args));
        return ConnAction::Continue;
    }
    let ms = match kevy_store::num::parse_i64(args.get(2)) {
        Some(ms) if ms < 0 => {
            ctx.out.error("ERR timeout is negative");
            return ConnAction::Continue;
        }
        Some(ms) => ms as u64,
        None => {
            ctx.out
                .error("ERR timeout is not an integer or out of range");
            return ConnAction::Continue;
        }
    };
    let all = if args.len() == 3 || args.get(3).eq_ignore_ascii_case(b"all") {
        true
    } else if args.get(3).eq_ignore_ascii_case(b"write") {
        false
    } else {
        ctx.out.error("ERR CLIENT PAUSE mode must be WRITE or ALL");
        return ConnAction::Continue;
    };
    ctx.out.ok();
    ConnAction::Pause {
        until_ms: kevy_sys::clock::unix_ms().saturating_add(ms),
        all,
    }
}

fn client_unpause(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.ok();
    ConnAction::Unpause
}

/// CLIENT REPLY ON|OFF|SKIP: only ON answers; the runtime drops the
/// replies OFF and SKIP ask it to.
fn client_reply(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let mode = ctx.args.get(2);
    if mode.eq_ignore_ascii_case(b"on") {
        ctx.out.ok();
        ConnAction::Reply(kevy_rt::ReplyMode::On)
    } else if mode.eq_ignore_ascii_case(b"off") {
        ConnAction::Reply(kevy_rt::ReplyMode::Off)
    } else if mode.eq_ignore_ascii_case(b"skip") {
        ConnAction::Reply(kevy_rt::ReplyMode::Skip)
    } else {
        ctx.out.error("ERR syntax error");
        ConnAction::Continue
    }
}

/// CLIENT NO-EVICT ON|OFF: kevy never evicts clients (it has no
/// `maxmemory-clients`), so the flag only shows in CLIENT LIST.
fn client_no_evict(ctx: &mut ConnCtx<'_>) -> ConnAction {
    if let Some(on) = on_off(ctx) {
        ctx.session.no_evict = on;
        ctx.out.ok();
    }
    ConnAction::Continue
}

/// The ON or OFF of CLIENT NO-EVICT and NO-TOUCH; Redis's syntax error
/// (answered here) for anything else.
fn on_off(ctx: &mut ConnCtx<'_>) -> Option<bool> {
    let v = ctx.args.get(2);
    if v.eq_ignore_ascii_case(b"on") {
        Some(true)
    } else if v.eq_ignore_ascii_case(b"off") {
        Some(false)
    } else {
        ctx.out.error("ERR syntax error");
        None
    }
}

/// CLIENT NO-TOUCH ON|OFF (Redis 7.2): while on, the connection's
/// commands leave the access clocks of the keys they reach as they were,
/// except TOUCH's; the flag travels with every command, to whichever
/// shard runs it.
fn client_no_touch(ctx: &mut ConnCtx<'_>) -> ConnAction {
    if let Some(on) = on_off(ctx) {
        ctx.client.no_touch = on;
        ctx.out.ok();
    }
    ConnAction::Continue
}

/// CLIENT CACHING YES|NO: the next command (or MULTI block) is tracked in
/// OPTIN mode, or not tracked in OPTOUT mode.
fn client_caching(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let t = &mut ctx.client.tracking;
    if !t.on() {
        ctx.out.error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with \
             OPTIN or OPTOUT mode enabled",
        );
        return ConnAction::Continue;
    }
    let opt = ctx.args.get(2);
    if opt.eq_ignore_ascii_case(b"yes") {
        if !t.has(Tracking::OPTIN) {
            ctx.out.error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
            return ConnAction::Continue;
        }
    } else if opt.eq_ignore_ascii_case(b"no") {
        if !t.has(Tracking::OPTOUT) {
            ctx.out.error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
            return ConnAction::Continue;
        }
    } else {
        ctx.out.error("ERR syntax error");
        return ConnAction::Continue;
    }
    t.flags |= Tracking::CACHING;
    ctx.out.ok();
    ConnAction::Continue
}

fn client_getredir(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let on = ctx.client.tracking.on();
    let redirect = ctx.session.tracking_redirect.0;
    ctx.out.int(if on { redirect as i64 } else { -1 });
    ConnAction::Continue
}

fn client_trackinginfo(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let t = ctx.client.tracking;
    let mut flags: Vec<&[u8]> = vec![if t.on() { b"on" } else { b"off" }];
    if t.has(Tracking::BCAST) {
        flags.push(b"bcast");
    }
    if t.has(Tracking::OPTIN) {
        flags.push(b"optin");
        if t.has(Tracking::CACHING) {
            flags.push(b"caching-yes");
        }
    }
    if t.has(Tracking::OPTOUT) {
        flags.push(b"optout");
        if t.has(Tracking::CACHING) {
            flags.push(b"caching-no");
        }
    }
    if t.has(Tracking::NOLOOP) {
        flags.push(b"noloop");
    }
    if t.has(Tracking::BROKEN) {
        flags.push(b"broken_redirect");
    }
    let out = &mut ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for f in flags {
        out.bulk(f);
    }
    out.bulk(b"redirect");
    let redirect = ctx.session.tracking_redirect.0;
    out.int(if t.on() { redirect as i64 } else { -1 });
    out.bulk(b"prefixes");
    out.array(ctx.session.tracking_prefixes.len());
    for p in &ctx.session.tracking_prefixes {
        out.bulk(p);
    }
    ConnAction::Continue
}

/// A client's address as CLIENT LIST shows it: `ip:port`, or for a Unix
/// socket client the socket's path and `:0`, as Redis shows both.
fn addr_text(i: &kevy_rt::ClientInfo, a: std::net::SocketAddr) -> String {
    if i.unix {
        format!(
            "{}:0",
            crate::settings::current("unixsocket").unwrap_or_default()
        )
    } else {
        a.to_string()
    }
}

#[cfg(test)]
mod tests {
    use crate::families::testkit::harness::harness;
    use kevy_rt::ConnAction;

    #[test]
    fn ping_and_echo() {
        let mut h = harness();
        assert_eq!(h.run("PING"), "+PONG\r\n");
        assert_eq!(h.run("ping hello"), "$5\r\nhello\r\n");
        assert_eq!(h.args(&["PING", ""]), "$0\r\n\r\n");
        assert_eq!(
            h.run("PING a b"),
            "-ERR wrong number of arguments for 'ping' command\r\n"
        );
        assert_eq!(h.run("ECHO x"), "$1\r\nx\r\n");
        assert_eq!(
            h.run("ECHO"),
            "-ERR wrong number of arguments for 'echo' command\r\n"
        );
        assert_eq!(
            h.run("ECHO x y"),
            "-ERR wrong number of arguments for 'echo' command\r\n"
        );
        h.client.resp3 = true;
        assert_eq!(h.run("PING"), "+PONG\r\n");
        assert_eq!(h.run("PING x"), "$1\r\nx\r\n");
    }

    #[test]
    fn quit_answers_then_closes() {
        let mut h = harness();
        assert_eq!(h.run("QUIT"), "+OK\r\n");
        assert_eq!(h.action, ConnAction::Close);
        assert_eq!(h.run("QUIT a b"), "+OK\r\n");
        assert_eq!(h.action, ConnAction::Close);
        h.run("PING");
        assert_eq!(h.action, ConnAction::Continue);
    }

    #[test]
    fn select_checks_like_redis() {
        let mut h = harness();
        assert_eq!(h.run("SELECT 15"), "+OK\r\n");
        assert_eq!(h.client.db, 15);
        let int_err = "-ERR value is not an integer or out of range\r\n";
        let range_err =
            "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n";
        let db_err = "-ERR DB index is out of range\r\n";
        for (arg, want) in [
            ("16", db_err),
            ("-1", db_err),
            ("2147483647", db_err),
            ("a", int_err),
            ("1.5", int_err),
            ("00", int_err),
            ("+1", int_err),
            ("-0", int_err),
            (" 1", int_err),
            ("", int_err),
            ("99999999999999999999", int_err),
            ("2147483648", range_err),
            ("-9223372036854775808", range_err),
        ] {
            assert_eq!(h.args(&["SELECT", arg]), want, "SELECT {arg:?}");
        }
        assert_eq!(h.client.db, 15);
        assert_eq!(h.run("select 0"), "+OK\r\n");
        assert_eq!(h.client.db, 0);
        assert_eq!(
            h.run("SELECT"),
            "-ERR wrong number of arguments for 'select' command\r\n"
        );
    }

    const HELLO3: &str = "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n\
        $5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
        $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
    const HELLO2: &str = "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n\
        $5\r\nproto\r\n:2\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
        $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";

    #[test]
    fn hello_switches_protocol_and_answers_in_it() {
        let mut h = harness();
        assert_eq!(h.run("HELLO"), HELLO2);
        assert!(!h.client.resp3);
        assert_eq!(h.run("HELLO 3"), HELLO3);
        assert!(h.client.resp3);
        // Without a version, HELLO keeps the protocol and says which it is.
        assert_eq!(h.run("HELLO"), HELLO3);
        assert_eq!(h.run("hello 2"), HELLO2);
        assert!(!h.client.resp3);
    }

    #[test]
    fn hello_errors_match_redis() {
        let mut h = harness();
        let not_int = "-ERR Protocol version is not an integer or out of range\r\n";
        let noproto = "-NOPROTO unsupported protocol version\r\n";
        for (line, want) in [
            ("HELLO 4", noproto),
            ("HELLO 1", noproto),
            ("HELLO -1", noproto),
            ("HELLO x", not_int),
            ("HELLO 03", not_int),
            ("HELLO 99999999999999999999", not_int),
            (
                "HELLO 3 AUTH default",
                "-ERR Syntax error in HELLO option 'AUTH'\r\n",
            ),
            (
                "HELLO 3 SETNAME",
                "-ERR Syntax error in HELLO option 'SETNAME'\r\n",
            ),
            ("HELLO 3 FOO", "-ERR Syntax error in HELLO option 'FOO'\r\n"),
            (
                "HELLO 3 AUTH default x FOO",
                "-ERR Syntax error in HELLO option 'FOO'\r\n",
            ),
            (
                "HELLO 3 AUTH bob x",
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
            ),
        ] {
            assert_eq!(h.run(line), want, "{line}");
        }
        assert_eq!(
            h.args(&["HELLO", "3", "SETNAME", "a b"]),
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
        );
        // A refused HELLO changes nothing.
        assert!(!h.client.resp3);
        assert_eq!(h.session.name, None);
    }

    #[test]
    fn hello_authenticates_and_names() {
        let mut h = harness();
        assert_eq!(h.run("HELLO 3 auth default anything setname app"), HELLO3);
        assert_eq!(h.session.name.as_deref(), Some(&b"app"[..]));
        assert_eq!(h.run("HELLO 2 SETNAME x SETNAME y"), HELLO2);
        assert_eq!(h.run("CLIENT GETNAME"), "$1\r\ny\r\n");
        assert_eq!(h.args(&["HELLO", "3", "SETNAME", ""]), HELLO3);
        assert_eq!(h.run("CLIENT GETNAME"), "_\r\n");
    }

    #[test]
    fn auth_behaves_as_redis_without_a_password() {
        let mut h = harness();
        assert_eq!(
            h.run("AUTH x"),
            "-ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?\r\n"
        );
        assert_eq!(h.run("AUTH default x"), "+OK\r\n");
        assert_eq!(
            h.run("AUTH bob x"),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(h.run("AUTH a b c"), "-ERR syntax error\r\n");
        assert_eq!(
            h.run("AUTH"),
            "-ERR wrong number of arguments for 'auth' command\r\n"
        );
    }

    #[test]
    fn reset_restores_a_new_connection_but_keeps_the_library() {
        let mut h = harness();
        h.run("SELECT 3");
        h.run("HELLO 3 SETNAME app");
        h.run("CLIENT SETINFO LIB-NAME go-redis");
        h.run("CLIENT SETINFO lib-ver 9.5.1");
        assert_eq!(h.run("RESET"), "+RESET\r\n");
        assert_eq!(h.client.db, 0);
        assert!(!h.client.resp3);
        assert_eq!(h.session.name, None);
        assert_eq!(h.session.lib_name.as_deref(), Some(&b"go-redis"[..]));
        assert_eq!(h.session.lib_ver.as_deref(), Some(&b"9.5.1"[..]));
        assert_eq!(
            h.run("RESET x"),
            "-ERR wrong number of arguments for 'reset' command\r\n"
        );
    }

    #[test]
    fn client_names() {
        let mut h = harness();
        assert_eq!(h.run("CLIENT GETNAME"), "$-1\r\n");
        assert_eq!(h.run("CLIENT SETNAME foo"), "+OK\r\n");
        assert_eq!(h.run("client getname"), "$3\r\nfoo\r\n");
        let bad = "-ERR Client names cannot contain spaces, newlines or special characters.\r\n";
        assert_eq!(h.args(&["CLIENT", "SETNAME", "a b"]), bad);
        assert_eq!(h.args(&["CLIENT", "SETNAME", "a\nb"]), bad);
        assert_eq!(h.args(&["CLIENT", "SETNAME", "é"]), bad);
        assert_eq!(h.run("CLIENT GETNAME"), "$3\r\nfoo\r\n");
        assert_eq!(h.run("CLIENT SETNAME ~!"), "+OK\r\n");
        assert_eq!(h.args(&["CLIENT", "SETNAME", ""]), "+OK\r\n");
        assert_eq!(h.run("CLIENT GETNAME"), "$-1\r\n");
        h.client.resp3 = true;
        assert_eq!(h.run("CLIENT GETNAME"), "_\r\n");
    }

    #[test]
    fn client_setinfo_as_redis_7_2() {
        let mut h = harness();
        assert_eq!(h.run("CLIENT SETINFO LIB-NAME redis-py"), "+OK\r\n");
        assert_eq!(h.run("CLIENT SETINFO lib-ver 5.0.1"), "+OK\r\n");
        assert_eq!(h.session.lib_name.as_deref(), Some(&b"redis-py"[..]));
        assert_eq!(
            h.run("CLIENT SETINFO lib-foo x"),
            "-ERR Unrecognized option 'lib-foo'\r\n"
        );
        assert_eq!(
            h.args(&["CLIENT", "SETINFO", "LIB-NAME", "a b"]),
            "-ERR LIB-NAME cannot contain spaces, newlines or special characters.\r\n"
        );
        assert_eq!(h.args(&["CLIENT", "SETINFO", "lib-ver", ""]), "+OK\r\n");
        assert_eq!(h.session.lib_ver, None);
        assert_eq!(
            h.run("CLIENT SETINFO lib-name"),
            "-ERR wrong number of arguments for 'client|setinfo' command\r\n"
        );
    }

    #[test]
    fn client_errors_match_redis() {
        let mut h = harness();
        assert_eq!(
            h.run("CLIENT"),
            "-ERR wrong number of arguments for 'client' command\r\n"
        );
        assert_eq!(
            h.run("CLIENT xyz"),
            "-ERR unknown subcommand 'xyz'. Try CLIENT HELP.\r\n"
        );
        assert_eq!(h.run("client KILL a b"), "-ERR syntax error\r\n");
        assert_eq!(
            h.run("client PAUSE 10 x y"),
            "-ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT \
             HELP.\r\n"
        );
        assert_eq!(
            h.run("CLIENT KILL ID 0"),
            "-ERR client-id should be greater than 0\r\n"
        );
        assert_eq!(
            h.run("CLIENT KILL TYPE x"),
            "-ERR Unknown client type 'x'\r\n"
        );
        assert_eq!(h.run("CLIENT KILL SKIPME x"), "-ERR syntax error\r\n");
        assert_eq!(h.run("CLIENT KILL ID 9 SKIPME"), "-ERR syntax error\r\n");
        assert_eq!(h.run("CLIENT KILL USER bob"), "-ERR No such user 'bob'\r\n");
        assert_eq!(h.run("CLIENT KILL 1.2.3.4:5"), "-ERR No such client\r\n");
        assert_eq!(h.run("CLIENT KILL ID 7"), ":0\r\n", "SKIPME yes by default");
        assert_eq!(h.action, ConnAction::Continue);
        assert_eq!(h.run("CLIENT KILL ID 7 SKIPME no"), ":1\r\n");
        assert_eq!(h.action, ConnAction::Close);
        for (line, name) in [
            ("CLIENT ID x", "client|id"),
            ("CLIENT SETNAME", "client|setname"),
            ("CLIENT SETNAME a b", "client|setname"),
            ("CLIENT GETNAME x", "client|getname"),
            ("CLIENT INFO x", "client|info"),
            ("CLIENT HELP x", "client|help"),
        ] {
            assert_eq!(
                h.run(line),
                format!("-ERR wrong number of arguments for '{name}' command\r\n"),
                "{line}"
            );
        }
    }

    #[test]
    fn client_id_and_tracking_state() {
        let mut h = harness();
        assert_eq!(h.run("CLIENT ID"), ":7\r\n");
        assert_eq!(h.run("CLIENT GETREDIR"), ":-1\r\n");
        assert_eq!(
            h.run("CLIENT CACHING yes"),
            "-ERR CLIENT CACHING can be called only when the client is in tracking mode with \
             OPTIN or OPTOUT mode enabled\r\n"
        );
        assert_eq!(
            h.run("CLIENT TRACKINGINFO"),
            "*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"
        );
        h.client.resp3 = true;
        assert_eq!(
            h.run("CLIENT TRACKINGINFO"),
            "%3\r\n$5\r\nflags\r\n~1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"
        );
    }

    fn line(
        name: &str,
        db: u32,
        resp: u8,
        lib: (&str, &str),
        cmd: &str,
        argv_mem: usize,
    ) -> String {
        format!(
            "id=7 addr=127.0.0.1:50000 laddr=127.0.0.1:7777 fd=-1 name={name} age=0 idle=0 flags=N \
             db={db} sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem={argv_mem} multi-mem=0 \
             rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem={argv_mem} events=r cmd={cmd} user=default \
             redir=-1 resp={resp} lib-name={} lib-ver={}\n",
            lib.0, lib.1
        )
    }

    #[test]
    fn client_info_and_list_describe_this_connection() {
        let mut h = harness();
        // Created "later" than now, so `age` reads 0 however slow the test.
        h.client.created_ms = u64::MAX;
        let info = line("", 0, 2, ("", ""), "client|info", 10);
        assert_eq!(
            h.run("CLIENT INFO"),
            format!("${}\r\n{info}\r\n", info.len())
        );
        h.run("CLIENT SETNAME app");
        h.run("CLIENT SETINFO LIB-NAME redis-py");
        h.run("SELECT 2");
        let list = line("app", 2, 2, ("redis-py", ""), "client|list", 10);
        assert_eq!(
            h.run("CLIENT LIST"),
            format!("${}\r\n{list}\r\n", list.len())
        );
        let typed = line("app", 2, 2, ("redis-py", ""), "client|list", 20);
        assert_eq!(
            h.run("CLIENT LIST TYPE normal"),
            format!("${}\r\n{typed}\r\n", typed.len())
        );
        assert_eq!(h.run("CLIENT LIST TYPE pubsub"), "$0\r\n\r\n");
        assert_eq!(h.run("CLIENT LIST ID 1 2"), "$0\r\n\r\n");
        let by_id = line("app", 2, 2, ("redis-py", ""), "client|list", 14);
        assert_eq!(
            h.run("CLIENT LIST ID 3 7"),
            format!("${}\r\n{by_id}\r\n", by_id.len())
        );
        assert_eq!(
            h.run("CLIENT LIST TYPE foo"),
            "-ERR Unknown client type 'foo'\r\n"
        );
        assert_eq!(h.run("CLIENT LIST ID 7 x"), "-ERR Invalid client ID\r\n");
        assert_eq!(h.run("CLIENT LIST TYPE"), "-ERR syntax error\r\n");
        assert_eq!(h.run("CLIENT LIST foo"), "-ERR syntax error\r\n");
        h.run("HELLO 3");
        let info = line("app", 2, 3, ("redis-py", ""), "client|info", 10);
        assert_eq!(
            h.run("CLIENT INFO"),
            format!("={}\r\ntxt:{info}\r\n", info.len() + 4)
        );
    }

    #[test]
    fn client_help_lists_what_kevy_implements() {
        let mut h = harness();
        let help = h.run("client help");
        assert!(help.starts_with(
            "*56\r\n+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+CACHING (YES|NO)\r\n"
        ));
        assert!(help
            .contains("+SETINFO <option> <value>\r\n+    Set client meta attr. Options are:\r\n"));
        assert!(help.ends_with("+HELP\r\n+    Prints this help.\r\n"));
        assert!(help.contains("+KILL <ip:port>\r\n"));
        assert!(help.contains("+PAUSE <timeout> [WRITE|ALL]\r\n"));
        assert!(help.contains("+NO-EVICT (ON|OFF)\r\n"));
        assert!(help.contains("+NO-TOUCH (ON|OFF)\r\n"));
    }
}
