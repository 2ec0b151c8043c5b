//! The server command family: COMMAND, CONFIG, INFO, TIME, LASTSAVE.
//! COMMAND describes the command table itself (plus the documentation in
//! [`docs`]), so what a client learns about a command is exactly what
//! routing uses; INFO reads the counters the reactors and shards publish.
//!
//! Container commands (CLIENT, CONFIG, COMMAND) keep their subcommands in a
//! [`SubSpec`] table that both dispatch and COMMAND read, so a subcommand's
//! arity check and its COMMAND INFO entry come from one place.

use super::connection;
use super::docs::{self, Begin, Doc, Find};
use crate::ctx::ConnCtx;
use crate::server::{Server, DATABASES};
use crate::table::{arity_ok, flag, CommandSpec, Handler, RouteKind, Table};
use kevy_resp::{Args, OwnedArgs, Reply};
use kevy_rt::{ConnAction, Route};
use kevy_store::glob::matches_with;
use kevy_store::num::parse_i64;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The Redis version kevy reports (HELLO, INFO): clients gate features on
/// it, and kevy implements Redis 7.0's commands and replies.
pub const REDIS_VERSION: &str = "7.0.15";

// ---------------------------------------------------------------------------
// Subcommands
// ---------------------------------------------------------------------------

/// One subcommand of a container command: the facts COMMAND INFO reports
/// for it and its handler. Its key positions are always 0 0 0.
pub struct SubSpec {
    /// Full lowercase name, `container|sub`.
    pub name: &'static str,
    /// Counts the container's name too, as Redis does (`client|setname` is 3).
    pub arity: i32,
    pub flags: u32,
    pub acl: &'static [&'static str],
    pub run: fn(&mut ConnCtx<'_>) -> ConnAction,
}

impl SubSpec {
    /// The part after `|`.
    pub fn short(&self) -> &'static str {
        self.name.split_once('|').map_or(self.name, |(_, s)| s)
    }
}

/// The subcommand table of a container command, empty for other commands.
/// COMMAND INFO, DOCS and LIST report exactly these; a container in any
/// family is listed here.
pub fn subcommands(name: &str) -> &'static [SubSpec] {
    match name {
        "client" => connection::CLIENT_SUBS,
        "command" => COMMAND_SUBS,
        "config" => CONFIG_SUBS,
        _ => &[],
    }
}

/// Runs the subcommand named by `args[1]`, with Redis's errors for an
/// unknown subcommand and for a subcommand's wrong argument count.
pub fn dispatch(ctx: &mut ConnCtx<'_>, subs: &[SubSpec]) -> ConnAction {
    match find_sub(ctx.args, subs) {
        Ok(s) => (s.run)(ctx),
        Err(msg) => {
            ctx.out.error(&msg);
            ConnAction::Continue
        }
    }
}

/// The subcommand named by `args[1]`, or Redis's error for an unknown
/// subcommand or a subcommand's wrong argument count (also what MULTI
/// reports when such a command is queued).
pub fn find_sub<'s>(args: Args<'_>, subs: &'s [SubSpec]) -> Result<&'s SubSpec, String> {
    let sub = args.get(1);
    match subs
        .iter()
        .find(|s| s.short().as_bytes().eq_ignore_ascii_case(sub))
    {
        None => Err(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            c_str(sub, 128),
            c_str(args.get(0), usize::MAX).to_ascii_uppercase()
        )),
        Some(s) if !arity_ok(s.arity, args.len()) => Err(format!(
            "ERR wrong number of arguments for '{}' command",
            s.name
        )),
        Some(s) => Ok(s),
    }
}

/// Redis's HELP reply: a title naming the container as the client typed it,
/// the lines, and the HELP entry every container has.
pub fn reply_help(ctx: &mut ConnCtx<'_>, lines: &[&str]) {
    let name = c_str(ctx.args.get(0), usize::MAX).to_ascii_uppercase();
    ctx.out.array(lines.len() + 3);
    let title = format!("{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    ctx.out.simple(title.as_bytes());
    for l in lines {
        ctx.out.simple(l.as_bytes());
    }
    ctx.out.simple(b"HELP");
    ctx.out.simple(b"    Prints this help.");
}

/// Bytes as C's `%.Ns` prints them: stopping at NUL, at most `max` bytes.
pub fn c_str(s: &[u8], max: usize) -> String {
    let s = &s[..s.len().min(max)];
    let s = s.iter().position(|&b| b == 0).map_or(s, |z| &s[..z]);
    String::from_utf8_lossy(s).into_owned()
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

/// A command that runs on the connection's home thread and has no keys.
pub fn conn_spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    acl: &'static [&'static str],
    f: fn(&mut ConnCtx<'_>) -> ConnAction,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first: 0,
        last: 0,
        step: 0,
        acl,
        route: RouteKind::Conn,
        run: Handler::Conn(f),
    }
}

pub fn register(t: &mut Table) {
    use flag::*;
    t.add(conn_spec(
        "command",
        -1,
        LOADING | STALE,
        &["@slow", "@connection"],
        cmd_command,
    ));
    t.add(conn_spec("config", -2, 0, &["@slow"], cmd_config));
    t.add(conn_spec(
        "info",
        -1,
        LOADING | STALE,
        &["@slow", "@dangerous"],
        cmd_info,
    ));
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
}

// ---------------------------------------------------------------------------
// COMMAND
// ---------------------------------------------------------------------------

const CMD_ACL: &[&str] = &["@slow", "@connection"];
const CMD_FLAGS: u32 = flag::LOADING | flag::STALE;

/// In the order Redis 7.0's COMMAND INFO gives them.
static COMMAND_SUBS: &[SubSpec] = &[
    SubSpec {
        name: "command|count",
        arity: 2,
        flags: CMD_FLAGS,
        acl: CMD_ACL,
        run: command_count,
    },
    SubSpec {
        name: "command|docs",
        arity: -2,
        flags: CMD_FLAGS,
        acl: CMD_ACL,
        run: command_docs,
    },
    SubSpec {
        name: "command|info",
        arity: -2,
        flags: CMD_FLAGS,
        acl: CMD_ACL,
        run: command_info,
    },
    SubSpec {
        name: "command|getkeys",
        arity: -4,
        flags: CMD_FLAGS,
        acl: CMD_ACL,
        run: command_getkeys,
    },
    SubSpec {
        name: "command|getkeysandflags",
        arity: -4,
        flags: CMD_FLAGS,
        acl: CMD_ACL,
        run: command_getkeysandflags,
    },
    SubSpec {
        name: "command|help",
        arity: 2,
        flags: CMD_FLAGS,
        acl: CMD_ACL,
        run: command_help,
    },
    SubSpec {
        name: "command|list",
        arity: -2,
        flags: CMD_FLAGS,
        acl: CMD_ACL,
        run: command_list,
    },
];

fn cmd_command(ctx: &mut ConnCtx<'_>) -> ConnAction {
    if ctx.args.len() == 1 {
        reply_all_info(ctx);
        return ConnAction::Continue;
    }
    dispatch(ctx, COMMAND_SUBS)
}

/// Every command's COMMAND INFO entry, in table order.
fn reply_all_info(ctx: &mut ConnCtx<'_>) {
    let table = &ctx.server.table;
    ctx.out.array(table.len());
    for spec in table.iter() {
        reply_spec_info(&mut ctx.out, spec);
    }
}

fn command_count(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.int(ctx.server.table.len() as i64);
    ConnAction::Continue
}

fn command_help(ctx: &mut ConnCtx<'_>) -> ConnAction {
    reply_help(
        ctx,
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    ConnAction::Continue
}

/// A command or subcommand found by a name COMMAND was given.
enum Found<'t> {
    Top(&'t CommandSpec),
    Sub(&'static SubSpec, Option<&'static Doc>),
}

/// Redis's `lookupCommandBySds`: `name` or `container|sub`, any case.
fn find_command<'t>(table: &'t Table, name: &[u8]) -> Option<Found<'t>> {
    let mut parts = name.split(|&b| b == b'|');
    let base = table.get(table.lookup(parts.next()?)?);
    let Some(sub) = parts.next() else {
        return Some(Found::Top(base));
    };
    if parts.next().is_some() {
        return None;
    }
    let s = subcommands(base.name)
        .iter()
        .find(|s| s.short().as_bytes().eq_ignore_ascii_case(sub))?;
    Some(Found::Sub(s, docs::find(base.name)))
}

fn command_info(ctx: &mut ConnCtx<'_>) -> ConnAction {
    if ctx.args.len() == 2 {
        reply_all_info(ctx);
        return ConnAction::Continue;
    }
    let table = &ctx.server.table;
    ctx.out.array(ctx.args.len() - 2);
    for name in ctx.args.iter().skip(2) {
        match find_command(table, name) {
            Some(Found::Top(spec)) => reply_spec_info(&mut ctx.out, spec),
            Some(Found::Sub(sub, parent)) => reply_sub_info(&mut ctx.out, sub, parent),
            None => ctx.out.null(),
        }
    }
    ConnAction::Continue
}

/// One COMMAND INFO entry: `[name, arity, flags, first, last, step, acl
/// categories, tips, key specs, subcommands]`.
fn reply_spec_info(out: &mut Reply<'_>, spec: &CommandSpec) {
    let doc = docs::find(spec.name);
    let range = (spec.first, spec.last, spec.step);
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(spec.arity.into());
    reply_flags(out, spec.flags);
    out.int(spec.first.into());
    out.int(spec.last.into());
    out.int(spec.step.into());
    reply_acl(out, spec.acl);
    reply_tips(out, doc.map_or(&[], |d| d.tips));
    reply_key_specs(out, spec.flags, range, doc);
    let subs = subcommands(spec.name);
    if subs.is_empty() {
        out.set(0);
    } else {
        out.array(subs.len());
        for s in subs {
            reply_sub_info(out, s, doc);
        }
    }
}

fn reply_sub_info(out: &mut Reply<'_>, sub: &SubSpec, parent: Option<&'static Doc>) {
    let doc = parent.and_then(|p| docs::find_sub(p, sub.name));
    out.array(10);
    out.bulk(sub.name.as_bytes());
    out.int(sub.arity.into());
    reply_flags(out, sub.flags);
    out.int(0);
    out.int(0);
    out.int(0);
    reply_acl(out, sub.acl);
    reply_tips(out, doc.map_or(&[], |d| d.tips));
    out.set(0);
    out.set(0);
}

/// Command flags as COMMAND INFO lists them. `may_replicate` is internal:
/// Redis hides it, so kevy does too.
fn reply_flags(out: &mut Reply<'_>, flags: u32) {
    let shown = || {
        flag::NAMES
            .iter()
            .filter(move |(bit, _)| flags & bit != 0 && *bit != flag::MAY_REPLICATE)
    };
    out.set(shown().count());
    for (_, name) in shown() {
        out.simple(name.as_bytes());
    }
}

fn reply_acl(out: &mut Reply<'_>, acl: &[&str]) {
    out.set(acl.len());
    for a in acl {
        if a.starts_with('@') {
            out.simple(a.as_bytes());
        } else {
            out.simple(format!("@{a}").as_bytes());
        }
    }
}

fn reply_tips(out: &mut Reply<'_>, tips: &[&str]) {
    out.set(tips.len());
    for t in tips {
        out.bulk(t.as_bytes());
    }
}

/// The key-spec flags kevy reports when it derives a spec from the table's
/// key range (Redis's own flags, per command, come from [`docs`]).
fn derived_key_flags(flags: u32) -> &'static [&'static str] {
    if flags & flag::WRITE != 0 {
        &["RW", "update"]
    } else {
        &["RO", "access"]
    }
}

/// Redis's key specs while the table's range is still Redis's; otherwise one
/// spec derived from the table's `first, last, step`.
fn reply_key_specs(out: &mut Reply<'_>, flags: u32, range: (i32, i32, i32), doc: Option<&Doc>) {
    if let Some(d) = doc.filter(|d| d.legacy == range && !d.key_specs.is_empty()) {
        out.set(d.key_specs.len());
        for ks in d.key_specs {
            reply_key_spec(out, ks);
        }
        return;
    }
    let (first, last, step) = range;
    if first <= 0 {
        out.set(0);
        return;
    }
    out.set(1);
    out.map(3);
    out.bulk(b"flags");
    let f = derived_key_flags(flags);
    out.set(f.len());
    for x in f {
        out.simple(x.as_bytes());
    }
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"index");
    out.bulk(b"spec");
    out.map(1);
    out.bulk(b"index");
    out.int(first.into());
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"range");
    out.bulk(b"spec");
    out.map(3);
    out.bulk(b"lastkey");
    out.int(if last < 0 { last } else { last - first }.into());
    out.bulk(b"keystep");
    out.int(step.into());
    out.bulk(b"limit");
    out.int(0);
}

fn reply_key_spec(out: &mut Reply<'_>, ks: &docs::KeySpec) {
    out.map(3 + usize::from(ks.notes.is_some()));
    if let Some(n) = ks.notes {
        out.bulk(b"notes");
        out.bulk(n.as_bytes());
    }
    out.bulk(b"flags");
    out.set(ks.flags.len());
    for f in ks.flags {
        out.simple(f.as_bytes());
    }
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match ks.begin {
        Begin::Index(i) => {
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i);
        }
        Begin::Keyword(kw, from) => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(kw.as_bytes());
            out.bulk(b"startfrom");
            out.int(from);
        }
        Begin::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    let (kind, fields, vals) = match ks.find {
        Find::Range(a, b, c) => ("range", ["lastkey", "keystep", "limit"], [a, b, c]),
        Find::Keynum(a, b, c) => ("keynum", ["keynumidx", "firstkey", "keystep"], [a, b, c]),
        Find::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
            return;
        }
    };
    out.bulk(kind.as_bytes());
    out.bulk(b"spec");
    out.map(3);
    for (f, v) in fields.iter().zip(vals) {
        out.bulk(f.as_bytes());
        out.int(v);
    }
}

fn command_list(ctx: &mut ConnCtx<'_>) -> ConnAction {
    enum Filter<'a> {
        None,
        Module,
        AclCat(&'a [u8]),
        Pattern(&'a [u8]),
    }
    let args = ctx.args;
    let filter = match args.len() {
        2 => Filter::None,
        5 if args.get(2).eq_ignore_ascii_case(b"filterby") => {
            let kind = args.get(3);
            if kind.eq_ignore_ascii_case(b"module") {
                Filter::Module
            } else if kind.eq_ignore_ascii_case(b"aclcat") {
                Filter::AclCat(args.get(4))
            } else if kind.eq_ignore_ascii_case(b"pattern") {
                Filter::Pattern(args.get(4))
            } else {
                ctx.out.error("ERR syntax error");
                return ConnAction::Continue;
            }
        }
        _ => {
            ctx.out.error("ERR syntax error");
            return ConnAction::Continue;
        }
    };
    let keep = |name: &str, acl: &[&str]| match filter {
        Filter::None => true,
        Filter::Module => false,
        Filter::AclCat(cat) => acl.iter().any(|a| {
            a.trim_start_matches('@')
                .as_bytes()
                .eq_ignore_ascii_case(cat)
        }),
        Filter::Pattern(p) => matches_with(p, name.as_bytes(), true),
    };
    let mut names: Vec<&str> = Vec::new();
    for spec in ctx.server.table.iter() {
        if keep(spec.name, spec.acl) {
            names.push(spec.name);
        }
        for s in subcommands(spec.name) {
            if keep(s.name, s.acl) {
                names.push(s.name);
            }
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    ConnAction::Continue
}

fn command_docs(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let table = &ctx.server.table;
    if ctx.args.len() == 2 {
        ctx.out.map(table.len());
        for spec in table.iter() {
            ctx.out.bulk(spec.name.as_bytes());
            reply_spec_doc(&mut ctx.out, spec);
        }
        return ConnAction::Continue;
    }
    let found: Vec<Found<'_>> = ctx
        .args
        .iter()
        .skip(2)
        .filter_map(|n| find_command(table, n))
        .collect();
    ctx.out.map(found.len());
    for f in found {
        match f {
            Found::Top(spec) => {
                ctx.out.bulk(spec.name.as_bytes());
                reply_spec_doc(&mut ctx.out, spec);
            }
            Found::Sub(sub, parent) => {
                ctx.out.bulk(sub.name.as_bytes());
                reply_sub_doc(&mut ctx.out, sub, parent);
            }
        }
    }
    ConnAction::Continue
}

fn reply_spec_doc(out: &mut Reply<'_>, spec: &CommandSpec) {
    let doc = docs::find(spec.name);
    let subs = subcommands(spec.name);
    match doc {
        Some(d) => reply_doc(out, d, subs),
        None => reply_minimal_doc(out, spec.acl, !subs.is_empty()),
    }
    if !subs.is_empty() {
        out.map(subs.len());
        for s in subs {
            out.bulk(s.name.as_bytes());
            reply_sub_doc(out, s, doc);
        }
    }
}

fn reply_sub_doc(out: &mut Reply<'_>, sub: &SubSpec, parent: Option<&'static Doc>) {
    match parent.and_then(|p| docs::find_sub(p, sub.name)) {
        Some(d) => reply_doc(out, d, &[]),
        None => reply_minimal_doc(out, sub.acl, false),
    }
}

/// A doc map in Redis's field order. With `subs`, the caller writes the
/// `subcommands` value right after.
fn reply_doc(out: &mut Reply<'_>, d: &Doc, subs: &[SubSpec]) {
    let n = 3
        + usize::from(d.complexity.is_some())
        + usize::from(!d.doc_flags.is_empty())
        + usize::from(d.deprecated_since.is_some())
        + usize::from(d.replaced_by.is_some())
        + usize::from(!d.history.is_empty())
        + usize::from(!d.args.is_empty())
        + usize::from(!subs.is_empty());
    out.map(n);
    out.bulk(b"summary");
    out.bulk(d.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(d.since.as_bytes());
    out.bulk(b"group");
    out.bulk(d.group.as_bytes());
    if let Some(c) = d.complexity {
        out.bulk(b"complexity");
        out.bulk(c.as_bytes());
    }
    if !d.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        out.set(d.doc_flags.len());
        for f in d.doc_flags {
            out.simple(f.as_bytes());
        }
    }
    if let Some(v) = d.deprecated_since {
        out.bulk(b"deprecated_since");
        out.bulk(v.as_bytes());
    }
    if let Some(v) = d.replaced_by {
        out.bulk(b"replaced_by");
        out.bulk(v.as_bytes());
    }
    if !d.history.is_empty() {
        out.bulk(b"history");
        out.set(d.history.len());
        for (v, what) in d.history {
            out.array(2);
            out.bulk(v.as_bytes());
            out.bulk(what.as_bytes());
        }
    }
    if !d.args.is_empty() {
        out.bulk(b"arguments");
        reply_args(out, d.args);
    }
    if !subs.is_empty() {
        out.bulk(b"subcommands");
    }
}

fn reply_args(out: &mut Reply<'_>, args: &[docs::Arg]) {
    out.array(args.len());
    for a in args {
        let nested = a.kind == "oneof" || a.kind == "block";
        out.map(
            2 + usize::from(a.key_spec_index.is_some())
                + usize::from(a.token.is_some())
                + usize::from(a.since.is_some())
                + usize::from(a.deprecated_since.is_some())
                + usize::from(!a.flags.is_empty())
                + usize::from(nested),
        );
        out.bulk(b"name");
        out.bulk(a.name.as_bytes());
        out.bulk(b"type");
        out.bulk(a.kind.as_bytes());
        if let Some(i) = a.key_spec_index {
            out.bulk(b"key_spec_index");
            out.int(i);
        }
        for (key, val) in [
            ("token", a.token),
            ("since", a.since),
            ("deprecated_since", a.deprecated_since),
        ] {
            if let Some(v) = val {
                out.bulk(key.as_bytes());
                out.bulk(v.as_bytes());
            }
        }
        if !a.flags.is_empty() {
            out.bulk(b"flags");
            out.set(a.flags.len());
            for f in a.flags {
                out.simple(f.as_bytes());
            }
        }
        if nested {
            out.bulk(b"arguments");
            reply_args(out, a.args);
        }
    }
}

/// The doc map of a command Redis 7.0 does not document: the three fields
/// Redis always sends, the group guessed from the ACL categories.
fn reply_minimal_doc(out: &mut Reply<'_>, acl: &[&str], has_subs: bool) {
    const GROUPS: &[(&str, &str)] = &[
        ("string", "string"),
        ("list", "list"),
        ("hash", "hash"),
        ("set", "set"),
        ("sortedset", "sorted-set"),
        ("stream", "stream"),
        ("bitmap", "bitmap"),
        ("hyperloglog", "hyperloglog"),
        ("geo", "geo"),
        ("pubsub", "pubsub"),
        ("transaction", "transactions"),
        ("scripting", "scripting"),
        ("connection", "connection"),
        ("keyspace", "generic"),
    ];
    let group = GROUPS
        .iter()
        .find(|(cat, _)| acl.iter().any(|a| a.trim_start_matches('@') == *cat))
        .map_or("server", |(_, g)| g);
    out.map(3 + usize::from(has_subs));
    out.bulk(b"summary");
    out.bulk(b"");
    out.bulk(b"since");
    out.bulk(env!("CARGO_PKG_VERSION").as_bytes());
    out.bulk(b"group");
    out.bulk(group.as_bytes());
    if has_subs {
        out.bulk(b"subcommands");
    }
}

fn command_getkeys(ctx: &mut ConnCtx<'_>) -> ConnAction {
    getkeys(ctx, false)
}

fn command_getkeysandflags(ctx: &mut ConnCtx<'_>) -> ConnAction {
    getkeys(ctx, true)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS: the key positions come from the same
/// place routing takes them (the table's range, or the command's own route
/// function for keys that move with the arguments).
fn getkeys(ctx: &mut ConnCtx<'_>, with_flags: bool) -> ConnAction {
    let inner = OwnedArgs::from_slices(ctx.args.iter().skip(2));
    let args = inner.args();
    let table = &ctx.server.table;
    let Some(spec) = table.lookup(args.get(0)).map(|id| table.get(id)) else {
        ctx.out.error("ERR Invalid command specified");
        return ConnAction::Continue;
    };
    let subs = subcommands(spec.name);
    if !subs.is_empty()
        && args.len() > 1
        && !subs
            .iter()
            .any(|s| s.short().as_bytes().eq_ignore_ascii_case(args.get(1)))
    {
        ctx.out.error("ERR Invalid command specified");
        return ConnAction::Continue;
    }
    let has_keys = subs.is_empty()
        && (matches!(spec.route, RouteKind::Keys(_) | RouteKind::Custom(_))
            || (matches!(spec.route, RouteKind::Tx(_)) && spec.first > 0));
    if !has_keys {
        ctx.out.error("ERR The command has no key arguments");
        return ConnAction::Continue;
    }
    if !arity_ok(spec.arity, args.len()) {
        ctx.out
            .error("ERR Invalid number of arguments specified for command");
        return ConnAction::Continue;
    }
    let argc = args.len() as i64;
    let positions: Vec<usize> = match spec.route {
        RouteKind::Keys(_) | RouteKind::Tx(_) => key_positions(
            spec.first.into(),
            spec.last.into(),
            spec.step.into(),
            0,
            argc,
        ),
        RouteKind::Custom(route) => match route(args, ctx.client, ctx.server.config.shards) {
            Ok(Route::Keys {
                first,
                last,
                step,
                extra,
                ..
            }) => key_positions(first.into(), last.into(), step.into(), extra.into(), argc),
            Ok(_) => Vec::new(),
            Err(_) => {
                ctx.out.error("ERR Invalid arguments specified for command");
                return ConnAction::Continue;
            }
        },
        RouteKind::Conn | RouteKind::All(_) => Vec::new(),
    };
    if positions.is_empty() && spec.flags & flag::NO_MANDATORY_KEYS == 0 {
        ctx.out.error("ERR Invalid arguments specified for command");
        return ConnAction::Continue;
    }
    let doc = docs::find(spec.name);
    ctx.out.array(positions.len());
    for &i in &positions {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(args.get(i));
            let f = key_flags_at(spec, doc, i as i64, argc);
            ctx.out.set(f.len());
            for x in f {
                ctx.out.simple(x.as_bytes());
            }
        } else {
            ctx.out.bulk(args.get(i));
        }
    }
    ConnAction::Continue
}

/// Argument indexes `first, first+step, …` up to `last` (negative counts
/// from the end), plus `extra` when non-zero, all inside `argc`.
fn key_positions(first: i64, last: i64, step: i64, extra: i64, argc: i64) -> Vec<usize> {
    let mut out = Vec::new();
    if first > 0 {
        let last = if last < 0 { argc + last } else { last };
        let mut i = first;
        while i <= last && i < argc {
            out.push(i as usize);
            i += step.max(1);
        }
    }
    if extra > 0 && extra < argc {
        out.push(extra as usize);
    }
    out
}

/// The flags of the key at `pos`: from Redis's key spec covering it when the
/// table's range is Redis's, else derived from the command's flags.
fn key_flags_at(
    spec: &CommandSpec,
    doc: Option<&Doc>,
    pos: i64,
    argc: i64,
) -> &'static [&'static str] {
    let range = (spec.first, spec.last, spec.step);
    if let Some(d) = doc.filter(|d| d.legacy == range) {
        for ks in d.key_specs {
            if let (Begin::Index(b), Find::Range(lastkey, keystep, _)) = (&ks.begin, &ks.find) {
                let last = if *lastkey < 0 {
                    argc + lastkey
                } else {
                    b + lastkey
                };
                if pos >= *b && pos <= last && (pos - b) % keystep.max(&1) == 0 {
                    return ks.flags;
                }
            }
        }
    }
    derived_key_flags(spec.flags)
}

// ---------------------------------------------------------------------------
// CONFIG
// ---------------------------------------------------------------------------

const CFG_ADMIN: u32 = flag::ADMIN | flag::NOSCRIPT | flag::LOADING | flag::STALE;
const CFG_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

/// In the order Redis 7.0's COMMAND INFO gives them.
static CONFIG_SUBS: &[SubSpec] = &[
    SubSpec {
        name: "config|resetstat",
        arity: 2,
        flags: CFG_ADMIN,
        acl: CFG_ACL,
        run: config_resetstat,
    },
    SubSpec {
        name: "config|get",
        arity: -3,
        flags: CFG_ADMIN,
        acl: CFG_ACL,
        run: config_get,
    },
    SubSpec {
        name: "config|rewrite",
        arity: 2,
        flags: CFG_ADMIN,
        acl: CFG_ACL,
        run: config_rewrite,
    },
    SubSpec {
        name: "config|set",
        arity: -4,
        flags: CFG_ADMIN,
        acl: CFG_ACL,
        run: config_set,
    },
    SubSpec {
        name: "config|help",
        arity: 2,
        flags: flag::LOADING | flag::STALE,
        acl: &["@slow"],
        run: config_help,
    },
];

fn cmd_config(ctx: &mut ConnCtx<'_>) -> ConnAction {
    dispatch(ctx, CONFIG_SUBS)
}

fn config_help(ctx: &mut ConnCtx<'_>) -> ConnAction {
    reply_help(
        ctx,
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    ConnAction::Continue
}

/// A parameter's value type, which decides CONFIG SET's validation and the
/// normalised form CONFIG GET returns.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int(i64, i64),
    /// Bytes, with Redis's `k`/`kb`/`m`/`mb`/`g`/`gb` suffixes accepted.
    Mem,
    Enum(&'static [&'static str]),
    Str,
    /// `save`: pairs of seconds (≥ 1) and changes (≥ 0).
    Save,
}

/// What CONFIG SET may do with a parameter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Redis refuses it at run time too.
    Immutable,
    /// Accepted and reported back by CONFIG GET, with no effect on kevy: an
    /// encoding threshold, a log or sampling knob. Ignoring it cannot make a
    /// reply wrong.
    Tunable,
    /// kevy does not implement the change (persistence, limits, security):
    /// setting the current value is accepted, any other value is refused
    /// rather than silently ignored.
    Fixed,
}

struct Param {
    name: &'static str,
    alias: Option<&'static str>,
    kind: Kind,
    default: &'static str,
    policy: Policy,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, policy: Policy) -> Param {
    Param {
        name,
        alias: None,
        kind,
        default,
        policy,
    }
}

const fn pa(
    name: &'static str,
    alias: &'static str,
    kind: Kind,
    default: &'static str,
    policy: Policy,
) -> Param {
    Param {
        name,
        alias: Some(alias),
        kind,
        default,
        policy,
    }
}

const I32: Kind = Kind::Int(0, i32::MAX as i64);
const I64: Kind = Kind::Int(0, i64::MAX);
const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// The parameters CONFIG knows, with Redis 7.0's defaults. `port`, `bind`,
/// `dir` and `proto-max-bulk-len` report what this process actually uses.
#[rustfmt::skip]
static PARAMS: &[Param] = {
    use Kind::*;
    use Policy::*;
    &[
        // General.
        p("daemonize", Bool, "no", Immutable),
        p("databases", Int(1, i32::MAX as i64), "16", Immutable),
        p("io-threads", Int(1, 128), "1", Immutable),
        p("io-threads-do-reads", Bool, "no", Immutable),
        p("pidfile", Str, "", Immutable),
        p("logfile", Str, "", Immutable),
        p("loglevel", Enum(&["debug", "verbose", "notice", "warning"]), "notice", Tunable),
        p("supervised", Enum(&["upstart", "systemd", "auto", "no"]), "no", Immutable),
        p("always-show-logo", Bool, "no", Immutable),
        p("syslog-enabled", Bool, "no", Immutable),
        p("set-proc-title", Bool, "yes", Immutable),
        p("cluster-enabled", Bool, "no", Immutable),
        p("hz", I32, "10", Tunable),
        p("dynamic-hz", Bool, "yes", Tunable),
        // Network and clients.
        p("port", Int(0, 65535), "", Fixed),
        p("bind", Str, "", Fixed),
        p("unixsocket", Str, "", Immutable),
        p("unixsocketperm", Int(0, 0o777), "0", Immutable),
        p("tcp-backlog", I32, "511", Immutable),
        p("tls-port", Int(0, 65535), "0", Fixed),
        p("protected-mode", Bool, "no", Fixed),
        p("tcp-keepalive", I32, "300", Fixed),
        p("timeout", I32, "0", Fixed),
        p("maxclients", Int(1, u32::MAX as i64), "10000", Fixed),
        p("proto-max-bulk-len", Mem, "", Fixed),
        p("client-query-buffer-limit", Mem, "1073741824", Fixed),
        p("client-output-buffer-limit", Str, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", Fixed),
        p("requirepass", Str, "", Fixed),
        p("masterauth", Str, "", Fixed),
        p("masteruser", Str, "", Fixed),
        p("aclfile", Str, "", Immutable),
        p("acllog-max-len", I64, "128", Tunable),
        p("notify-keyspace-events", Str, "", Fixed),
        p("tracking-table-max-keys", I64, "1000000", Tunable),
        // Memory and eviction.
        p("maxmemory", Mem, "0", Fixed),
        p("maxmemory-policy", Enum(POLICIES), "noeviction", Fixed),
        p("maxmemory-samples", Int(1, i32::MAX as i64), "5", Tunable),
        p("maxmemory-eviction-tenacity", Int(0, 100), "10", Tunable),
        p("maxmemory-clients", Str, "0", Fixed),
        p("lfu-log-factor", I32, "10", Tunable),
        p("lfu-decay-time", I32, "1", Tunable),
        p("active-expire-effort", Int(1, 10), "1", Tunable),
        p("activerehashing", Bool, "yes", Tunable),
        p("activedefrag", Bool, "no", Tunable),
        p("jemalloc-bg-thread", Bool, "yes", Tunable),
        p("lazyfree-lazy-eviction", Bool, "no", Tunable),
        p("lazyfree-lazy-expire", Bool, "no", Tunable),
        p("lazyfree-lazy-server-del", Bool, "no", Tunable),
        p("lazyfree-lazy-user-del", Bool, "no", Tunable),
        p("lazyfree-lazy-user-flush", Bool, "no", Tunable),
        p("oom-score-adj", Enum(&["no", "yes", "relative", "absolute"]), "no", Fixed),
        // Encodings.
        pa("hash-max-listpack-entries", "hash-max-ziplist-entries", I64, "512", Tunable),
        pa("hash-max-listpack-value", "hash-max-ziplist-value", I64, "64", Tunable),
        pa("list-max-listpack-size", "list-max-ziplist-size", Int(i32::MIN as i64, i32::MAX as i64), "-2", Tunable),
        p("list-compress-depth", I32, "0", Tunable),
        p("set-max-intset-entries", I64, "512", Tunable),
        pa("zset-max-listpack-entries", "zset-max-ziplist-entries", I64, "128", Tunable),
        pa("zset-max-listpack-value", "zset-max-ziplist-value", I64, "64", Tunable),
        p("stream-node-max-bytes", Mem, "4096", Tunable),
        p("stream-node-max-entries", I64, "100", Tunable),
        p("hll-sparse-max-bytes", Mem, "3000", Tunable),
        // Persistence.
        p("save", Save, "", Fixed),
        p("appendonly", Bool, "no", Fixed),
        p("appendfsync", Enum(&["always", "everysec", "no"]), "everysec", Fixed),
        p("appendfilename", Str, "appendonly.aof", Immutable),
        p("appenddirname", Str, "appendonlydir", Immutable),
        p("dbfilename", Str, "dump.rdb", Fixed),
        p("dir", Str, "", Fixed),
        p("rdbcompression", Bool, "yes", Tunable),
        p("rdbchecksum", Bool, "yes", Tunable),
        p("stop-writes-on-bgsave-error", Bool, "yes", Tunable),
        p("no-appendfsync-on-rewrite", Bool, "no", Tunable),
        p("auto-aof-rewrite-percentage", I32, "100", Tunable),
        p("auto-aof-rewrite-min-size", Mem, "67108864", Tunable),
        p("aof-use-rdb-preamble", Bool, "yes", Tunable),
        p("aof-load-truncated", Bool, "yes", Tunable),
        // Replication (kevy is always a master without replicas).
        pa("replicaof", "slaveof", Str, "", Immutable),
        pa("replica-read-only", "slave-read-only", Bool, "yes", Tunable),
        pa("replica-serve-stale-data", "slave-serve-stale-data", Bool, "yes", Tunable),
        pa("replica-priority", "slave-priority", I32, "100", Tunable),
        pa("replica-lazy-flush", "slave-lazy-flush", Bool, "no", Tunable),
        pa("min-replicas-to-write", "min-slaves-to-write", I32, "0", Fixed),
        pa("min-replicas-max-lag", "min-slaves-max-lag", I32, "10", Tunable),
        p("repl-backlog-size", Mem, "1048576", Tunable),
        p("repl-timeout", Int(1, i32::MAX as i64), "60", Tunable),
        // Diagnostics and scripting.
        p("slowlog-log-slower-than", Int(-1, i64::MAX), "10000", Tunable),
        p("slowlog-max-len", I64, "128", Tunable),
        p("latency-monitor-threshold", I64, "0", Tunable),
        p("latency-tracking", Bool, "yes", Tunable),
        p("latency-tracking-info-percentiles", Str, "50 99 99.9", Tunable),
        pa("busy-reply-threshold", "lua-time-limit", I64, "5000", Tunable),
        p("shutdown-timeout", I32, "10", Tunable),
    ]
};

/// State CONFIG SET and CONFIG RESETSTAT change at run time. It is
/// process-wide: kevy runs one server per process, and the reactors never
/// touch it (they publish counters; INFO subtracts the baseline), so it needs
/// no coordination beyond this lock, taken only by CONFIG and INFO.
struct Runtime {
    /// Tunable parameters set by CONFIG SET: canonical name, normalised value.
    overrides: Vec<(&'static str, String)>,
    /// Counter values at the last CONFIG RESETSTAT.
    baseline: Counters,
}

static RUNTIME: Mutex<Runtime> = Mutex::new(Runtime {
    overrides: Vec::new(),
    baseline: Counters::ZERO,
});

fn runtime() -> MutexGuard<'static, Runtime> {
    // A panic while holding the lock leaves plain data behind; keep going.
    RUNTIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn find_param(name: &[u8]) -> Option<&'static Param> {
    PARAMS.iter().find(|p| {
        p.name.as_bytes().eq_ignore_ascii_case(name)
            || p.alias
                .is_some_and(|a| a.as_bytes().eq_ignore_ascii_case(name))
    })
}

/// A parameter's current value as CONFIG GET and INFO report it.
fn param_value(server: &Server, p: &Param, rt: &Runtime) -> String {
    if let Some((_, v)) = rt.overrides.iter().find(|(n, _)| *n == p.name) {
        return v.clone();
    }
    match p.name {
        "port" => server.config.port.to_string(),
        "bind" => server.config.bind.clone(),
        "dir" => std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        "proto-max-bulk-len" => kevy_resp::MAX_BULK_LEN.to_string(),
        _ => p.default.to_string(),
    }
}

fn config_get(ctx: &mut ConnCtx<'_>) -> ConnAction {
    // Exact names answer under the spelling asked for; patterns under the
    // parameters' own names (aliases included). Each name appears once.
    let mut found: Vec<(String, &'static Param)> = Vec::new();
    let mut add = |key: String, p: &'static Param| {
        if !found.iter().any(|(k, _)| k.eq_ignore_ascii_case(&key)) {
            found.push((key, p));
        }
    };
    for pat in ctx.args.iter().skip(2) {
        if !pat.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            if let Some(p) = find_param(pat) {
                add(String::from_utf8_lossy(pat).into_owned(), p);
            }
            continue;
        }
        for p in PARAMS {
            for name in std::iter::once(p.name).chain(p.alias) {
                if matches_with(pat, name.as_bytes(), true) {
                    add(name.to_string(), p);
                }
            }
        }
    }
    let rt = runtime();
    ctx.out.map(found.len());
    for (key, p) in &found {
        ctx.out.bulk(key.as_bytes());
        ctx.out.bulk(param_value(ctx.server, p, &rt).as_bytes());
    }
    ConnAction::Continue
}

fn config_set(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let args = ctx.args;
    if args.len() % 2 == 1 {
        ctx.out.error("ERR syntax error");
        return ConnAction::Continue;
    }
    // First every name (unknown, immutable, duplicate), then every value; the
    // change applies only if all of it is valid, as in Redis.
    let mut pairs: Vec<(&'static Param, &[u8], &[u8])> = Vec::new();
    for i in (2..args.len()).step_by(2) {
        let (name, value) = (args.get(i), args.get(i + 1));
        let Some(p) = find_param(name) else {
            let msg = format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                c_str(name, usize::MAX)
            );
            ctx.out.error(&msg);
            return ConnAction::Continue;
        };
        let why = if p.policy == Policy::Immutable {
            Some("can't set immutable config")
        } else if pairs.iter().any(|(q, _, _)| q.name == p.name) {
            Some("duplicate parameter")
        } else {
            None
        };
        if let Some(why) = why {
            ctx.out.error(&set_failed(name, why));
            return ConnAction::Continue;
        }
        pairs.push((p, name, value));
    }
    let mut rt = runtime();
    let mut updates: Vec<(&'static str, String)> = Vec::new();
    for &(p, name, value) in &pairs {
        let v = match normalize(p.kind, value) {
            Ok(v) => v,
            Err(why) => {
                ctx.out.error(&set_failed(name, &why));
                return ConnAction::Continue;
            }
        };
        if p.policy == Policy::Fixed {
            let current = param_value(ctx.server, p, &rt);
            if normalize(p.kind, current.as_bytes()).map_or(true, |c| c != v) {
                ctx.out.error(&set_failed(name, "not supported by kevy"));
                return ConnAction::Continue;
            }
            continue;
        }
        updates.push((p.name, v));
    }
    for (name, v) in updates {
        match rt.overrides.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = v,
            None => rt.overrides.push((name, v)),
        }
    }
    ctx.out.ok();
    ConnAction::Continue
}

fn set_failed(name: &[u8], why: &str) -> String {
    format!(
        "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
        c_str(name, usize::MAX)
    )
}

/// Validates a CONFIG SET value and returns the form CONFIG GET reports.
fn normalize(kind: Kind, v: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(v);
    match kind {
        Kind::Bool => {
            if v.eq_ignore_ascii_case(b"yes") {
                Ok("yes".into())
            } else if v.eq_ignore_ascii_case(b"no") {
                Ok("no".into())
            } else {
                Err("argument must be 'yes' or 'no'".into())
            }
        }
        Kind::Int(lo, hi) => {
            let n = parse_i64(v).ok_or("argument couldn't be parsed into an integer")?;
            if n < lo || n > hi {
                return Err(format!("argument must be between {lo} and {hi} inclusive"));
            }
            Ok(n.to_string())
        }
        Kind::Mem => parse_memory(v)
            .map(|n| n.to_string())
            .ok_or_else(|| "argument must be a memory value".into()),
        Kind::Enum(names) => names
            .iter()
            .find(|n| n.as_bytes().eq_ignore_ascii_case(v))
            .map(|n| n.to_string())
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            }),
        Kind::Str => Ok(text.into_owned()),
        Kind::Save => {
            let parts: Vec<&str> = text.split_ascii_whitespace().collect();
            let num = |s: &str| s.parse::<i64>().ok();
            let pairs = parts.chunks_exact(2);
            let ok = pairs.remainder().is_empty()
                && pairs.clone().all(|pair| {
                    num(pair[0]).is_some_and(|secs| secs >= 1)
                        && num(pair[1]).is_some_and(|changes| changes >= 0)
                });
            if !ok {
                return Err("Invalid save parameters".into());
            }
            Ok(parts
                .iter()
                .map(|s| s.parse::<i64>().unwrap_or(0).to_string())
                .collect::<Vec<_>>()
                .join(" "))
        }
    }
}

/// Redis's `memtoull`: digits with an optional `b`, `k`, `kb`, `m`, `mb`,
/// `g` or `gb` suffix (any case; `k` is 1000, `kb` 1024).
fn parse_memory(v: &[u8]) -> Option<u64> {
    let split = v
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n: u64 = if digits.is_empty() {
        0
    } else {
        std::str::from_utf8(digits).ok()?.parse().ok()?
    };
    n.checked_mul(mul)
}

fn config_resetstat(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let now = Counters::read(ctx.server);
    runtime().baseline = now;
    ctx.out.ok();
    ConnAction::Continue
}

fn config_rewrite(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out
        .error("ERR The server is running without a config file");
    ConnAction::Continue
}

// ---------------------------------------------------------------------------
// INFO
// ---------------------------------------------------------------------------

/// The cumulative counters INFO reports and CONFIG RESETSTAT resets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    connections: u64,
    commands: u64,
    net_in: u64,
    net_out: u64,
    rejected: u64,
    expired: u64,
    hits: u64,
    misses: u64,
}

impl Counters {
    const ZERO: Counters = Counters {
        connections: 0,
        commands: 0,
        net_in: 0,
        net_out: 0,
        rejected: 0,
        expired: 0,
        hits: 0,
        misses: 0,
    };

    fn read(server: &Server) -> Counters {
        let rt = &server.rt_stats;
        Counters {
            connections: rt.sum(|s| &s.total_connections),
            commands: rt.sum(|s| &s.total_commands),
            net_in: rt.sum(|s| &s.net_input_bytes),
            net_out: rt.sum(|s| &s.net_output_bytes),
            rejected: rt.sum(|s| &s.rejected_connections),
            expired: server.sum_published(|p| &p.expired_keys),
            hits: server.sum_published(|p| &p.keyspace_hits),
            misses: server.sum_published(|p| &p.keyspace_misses),
        }
    }

    /// Counts since `base`; a counter that went backwards reads as zero.
    fn since(self, base: Counters) -> Counters {
        Counters {
            connections: self.connections.saturating_sub(base.connections),
            commands: self.commands.saturating_sub(base.commands),
            net_in: self.net_in.saturating_sub(base.net_in),
            net_out: self.net_out.saturating_sub(base.net_out),
            rejected: self.rejected.saturating_sub(base.rejected),
            expired: self.expired.saturating_sub(base.expired),
            hits: self.hits.saturating_sub(base.hits),
            misses: self.misses.saturating_sub(base.misses),
        }
    }
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
    let text = info_text(ctx.server, &want);
    ctx.out.verbatim(b"txt", text.as_bytes());
    ConnAction::Continue
}

/// The INFO text for the selected sections, `\r\n`-separated as Redis
/// writes it.
fn info_text(server: &Server, want: &[bool]) -> String {
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
            "stats" => info_stats(&counters, &mut f),
            "replication" => info_replication(server, &mut f),
            "cpu" => info_cpu(&mut f),
            "cluster" => f.put("cluster_enabled", 0),
            "keyspace" => info_keyspace(server, &mut f),
            // Modules: none; per-command, error and latency statistics are
            // not kept, so these sections have their header only.
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
    f.put("process_supervised", "no");
    f.put("run_id", &server.run_id);
    f.put("tcp_port", server.config.port);
    f.put("server_time_usec", unix_us);
    f.put("uptime_in_seconds", up);
    f.put("uptime_in_days", up / 86400);
    // The reactors tick at a fixed 10 Hz whatever CONFIG SET hz says.
    f.put("hz", 10);
    f.put("configured_hz", config_i64(server, rt, "hz"));
    f.put("lru_clock", (unix_us / 1_000_000) & ((1 << 24) - 1));
    f.put("executable", &h.executable);
    f.put("config_file", "");
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
    f.put("blocked_clients", 0);
    f.put("tracking_clients", 0);
    f.put("clients_in_timeout_table", 0);
}

/// The highest `used_memory` any INFO has seen.
static PEAK_MEMORY: AtomicU64 = AtomicU64::new(0);

fn info_memory(server: &Server, rt: &Runtime, f: &mut Fields<'_>) {
    let used = server.sum_published(|p| &p.used_memory);
    let peak = PEAK_MEMORY.fetch_max(used, Relaxed).max(used);
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
    f.put("used_memory_dataset", used);
    f.put("total_system_memory", total);
    f.put("total_system_memory_human", bytes_to_human(total));
    f.put("maxmemory", maxmemory);
    f.put("maxmemory_human", bytes_to_human(maxmemory));
    f.put("maxmemory_policy", policy);
    f.put(
        "mem_fragmentation_ratio",
        format!("{:.2}", ratio(rss, used)),
    );
    f.put("mem_allocator", "libc");
    f.put("lazyfree_pending_objects", 0);
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
    f.put("loading", 0);
    f.put("async_loading", 0);
    f.put("rdb_changes_since_last_save", 0);
    f.put("rdb_bgsave_in_progress", 0);
    f.put("rdb_last_save_time", last_save(server));
    f.put("rdb_last_bgsave_status", "ok");
    f.put("rdb_last_bgsave_time_sec", -1);
    f.put("rdb_current_bgsave_time_sec", -1);
    f.put("rdb_saves", 0);
    f.put("aof_enabled", 0);
    f.put("aof_rewrite_in_progress", 0);
    f.put("aof_rewrite_scheduled", 0);
    f.put("aof_last_rewrite_time_sec", -1);
    f.put("aof_current_rewrite_time_sec", -1);
    f.put("aof_last_bgrewrite_status", "ok");
    f.put("aof_rewrites", 0);
    f.put("aof_last_write_status", "ok");
}

fn info_stats(c: &Counters, f: &mut Fields<'_>) {
    f.put("total_connections_received", c.connections);
    f.put("total_commands_processed", c.commands);
    // Not sampled: kevy keeps no per-interval history of its counters.
    f.put("instantaneous_ops_per_sec", 0);
    f.put("total_net_input_bytes", c.net_in);
    f.put("total_net_output_bytes", c.net_out);
    f.put("total_net_repl_input_bytes", 0);
    f.put("total_net_repl_output_bytes", 0);
    f.put("instantaneous_input_kbps", "0.00");
    f.put("instantaneous_output_kbps", "0.00");
    f.put("instantaneous_input_repl_kbps", "0.00");
    f.put("instantaneous_output_repl_kbps", "0.00");
    f.put("rejected_connections", c.rejected);
    f.put("sync_full", 0);
    f.put("sync_partial_ok", 0);
    f.put("sync_partial_err", 0);
    f.put("expired_keys", c.expired);
    f.put("expired_stale_perc", "0.00");
    f.put("expired_time_cap_reached_count", 0);
    f.put("evicted_keys", 0);
    f.put("evicted_clients", 0);
    f.put("keyspace_hits", c.hits);
    f.put("keyspace_misses", c.misses);
    f.put("pubsub_channels", 0);
    f.put("pubsub_patterns", 0);
    f.put("pubsubshard_channels", 0);
    f.put("latest_fork_usec", 0);
    f.put("total_forks", 0);
    f.put("migrate_cached_sockets", 0);
    f.put("tracking_total_keys", 0);
    f.put("tracking_total_items", 0);
    f.put("tracking_total_prefixes", 0);
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

fn info_keyspace(server: &Server, f: &mut Fields<'_>) {
    for db in 0..DATABASES {
        let (keys, expires) = server.db_counts(db);
        if keys > 0 {
            // The average TTL is not tracked by the shards.
            f.put(
                &format!("db{db}"),
                format!("keys={keys},expires={expires},avg_ttl=0"),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// TIME, LASTSAVE
// ---------------------------------------------------------------------------

fn cmd_time(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let us = kevy_sys::clock::unix_us();
    ctx.out.array(2);
    ctx.out.bulk_i64((us / 1_000_000) as i64);
    ctx.out.bulk_i64((us % 1_000_000) as i64);
    ConnAction::Continue
}

/// The time of the last successful save: with no save yet, start-up (as
/// Redis initialises it).
fn last_save(server: &Server) -> u64 {
    server.start_unix_ms / 1000
}

fn cmd_lastsave(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.int(last_save(ctx.server) as i64);
    ConnAction::Continue
}

/// Runs commands the way a reactor does (the service's routing, then the
/// connection handler) for the tests of this family and of `connection`.
#[cfg(test)]
pub(crate) mod harness {
    use crate::ctx::Session;
    use crate::server::{Config, Server};
    use crate::service::Kevy;
    use crate::shard::Shard;
    use kevy_resp::{OwnedArgs, Reply};
    use kevy_rt::{ClientCtx, ConnAction, Route, Service};
    use std::sync::Arc;

    pub struct Harness {
        pub kevy: Kevy,
        pub shard: Shard,
        pub client: ClientCtx,
        pub session: Session,
        pub action: ConnAction,
    }

    /// A client with id 7 from 127.0.0.1:50000 to a two-shard server on
    /// 127.0.0.1:7777.
    pub fn harness() -> Harness {
        with_server(Server::new(Config {
            bind: "127.0.0.1".into(),
            port: 7777,
            shards: 2,
        }))
    }

    pub fn with_server(server: Server) -> Harness {
        Harness {
            kevy: Kevy::new(Arc::new(server)),
            shard: Shard::new(0, 2),
            client: ClientCtx {
                id: 7,
                db: 0,
                resp3: false,
                home: 0,
                peer: "127.0.0.1:50000".parse().unwrap(),
                local: "127.0.0.1:7777".parse().unwrap(),
                created_ms: kevy_sys::clock::unix_ms(),
            },
            session: Session::default(),
            action: ConnAction::Continue,
        }
    }

    impl Harness {
        pub fn server(&self) -> &Server {
            &self.kevy.server
        }

        pub fn raw(&mut self, argv: &[&[u8]]) -> Vec<u8> {
            let owned = OwnedArgs::from_slices(argv);
            let args = owned.args();
            let mut out = Vec::new();
            self.action = ConnAction::Continue;
            match self.kevy.route(args, &self.client, 2) {
                Err(e) => Reply::new(&mut out, self.client.resp3).error_bytes(&e),
                Ok((cmd, Route::Conn)) => {
                    self.action = self.kevy.exec_conn(
                        &mut self.shard,
                        &mut self.client,
                        &mut self.session,
                        cmd,
                        args,
                        &mut out,
                    );
                }
                Ok((_, route)) => panic!("{argv:?} routed to {route:?}"),
            }
            out
        }

        /// One command, arguments as given; the reply as text.
        pub fn args(&mut self, argv: &[&str]) -> String {
            let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
            String::from_utf8(self.raw(&argv)).unwrap()
        }

        /// One command split on spaces.
        pub fn run(&mut self, line: &str) -> String {
            self.args(&line.split(' ').collect::<Vec<_>>())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::harness::{harness, with_server};
    use super::*;
    use crate::server::Config;
    use kevy_rt::Fold;
    use std::sync::atomic::Ordering::Relaxed;

    fn noop(_: &mut crate::ctx::Ctx<'_>) {}

    fn keyed(name: &'static str, arity: i32, flags: u32, range: (i32, i32, i32)) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            first: range.0,
            last: range.1,
            step: range.2,
            acl: &["@write", "@string", "@slow"],
            route: RouteKind::Keys(Fold::One),
            run: Handler::Shard(noop),
        }
    }

    fn enc(resp3: bool, f: impl FnOnce(&mut Reply<'_>)) -> String {
        let mut v = Vec::new();
        f(&mut Reply::new(&mut v, resp3));
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn command_info_matches_redis_for_connection_commands() {
        let mut h = harness();
        // Captured from redis-server 7.0.15.
        assert_eq!(
            h.run("COMMAND INFO ping"),
            "*1\r\n*10\r\n$4\r\nping\r\n:-1\r\n*1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n\
             +@connection\r\n*2\r\n$25\r\nrequest_policy:all_shards\r\n$29\r\n\
             response_policy:all_succeeded\r\n*0\r\n*0\r\n"
        );
        let redis = "*9\r\n*10\r\n$4\r\necho\r\n:2\r\n*3\r\n+loading\r\n+stale\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$6\r\nselect\r\n:2\r\n*3\r\n+loading\r\n+stale\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$4\r\nquit\r\n:-1\r\n*6\r\n+noscript\r\n+loading\r\n+stale\r\n+fast\r\n+no_auth\r\n+allow_busy\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$5\r\nhello\r\n:-1\r\n*6\r\n+noscript\r\n+loading\r\n+stale\r\n+fast\r\n+no_auth\r\n+allow_busy\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$5\r\nreset\r\n:1\r\n*6\r\n+noscript\r\n+loading\r\n+stale\r\n+fast\r\n+no_auth\r\n+allow_busy\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$4\r\nauth\r\n:-2\r\n*6\r\n+noscript\r\n+loading\r\n+stale\r\n+fast\r\n+no_auth\r\n+allow_busy\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$4\r\ninfo\r\n:-1\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@dangerous\r\n*3\r\n$23\r\nnondeterministic_output\r\n$25\r\nrequest_policy:all_shards\r\n$23\r\nresponse_policy:special\r\n*0\r\n*0\r\n*10\r\n$4\r\ntime\r\n:1\r\n*3\r\n+loading\r\n+stale\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@fast\r\n*1\r\n$23\r\nnondeterministic_output\r\n*0\r\n*0\r\n*10\r\n$8\r\nlastsave\r\n:1\r\n*3\r\n+loading\r\n+stale\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@fast\r\n+@dangerous\r\n*1\r\n$23\r\nnondeterministic_output\r\n*0\r\n*0\r\n";
        assert_eq!(
            h.run("COMMAND INFO echo select quit hello reset auth info time lastsave"),
            redis
        );
    }

    #[test]
    fn command_info_matches_redis_for_containers() {
        let mut h = harness();
        let config = "*1\r\n*10\r\n$6\r\nconfig\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*5\r\n*10\r\n$16\r\nconfig|resetstat\r\n:2\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n*10\r\n$10\r\nconfig|get\r\n:-3\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n*10\r\n$14\r\nconfig|rewrite\r\n:2\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n*10\r\n$10\r\nconfig|set\r\n:-4\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*2\r\n$24\r\nrequest_policy:all_nodes\r\n$29\r\nresponse_policy:all_succeeded\r\n*0\r\n*0\r\n*10\r\n$11\r\nconfig|help\r\n:2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*0\r\n";
        assert_eq!(h.run("COMMAND INFO config"), config);
        let command = "*1\r\n*10\r\n$7\r\ncommand\r\n:-1\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*1\r\n$29\r\nnondeterministic_output_order\r\n*0\r\n*7\r\n*10\r\n$13\r\ncommand|count\r\n:2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$12\r\ncommand|docs\r\n:-2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*1\r\n$29\r\nnondeterministic_output_order\r\n*0\r\n*0\r\n*10\r\n$12\r\ncommand|info\r\n:-2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*1\r\n$29\r\nnondeterministic_output_order\r\n*0\r\n*0\r\n*10\r\n$15\r\ncommand|getkeys\r\n:-4\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$23\r\ncommand|getkeysandflags\r\n:-4\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$12\r\ncommand|help\r\n:2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$12\r\ncommand|list\r\n:-2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*1\r\n$29\r\nnondeterministic_output_order\r\n*0\r\n*0\r\n";
        assert_eq!(h.run("COMMAND INFO command"), command);
        // Subcommands by full name, each as Redis reports it.
        let subs = "*9\r\n*10\r\n$14\r\nclient|setname\r\n:3\r\n*3\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$11\r\nclient|list\r\n:-2\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*4\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n+@connection\r\n*1\r\n$23\r\nnondeterministic_output\r\n*0\r\n*0\r\n*10\r\n$11\r\nclient|help\r\n:2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$11\r\nclient|info\r\n:2\r\n*3\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*1\r\n$23\r\nnondeterministic_output\r\n*0\r\n*0\r\n*10\r\n$9\r\nclient|id\r\n:2\r\n*3\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$14\r\nclient|getname\r\n:2\r\n*3\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$19\r\nclient|trackinginfo\r\n:2\r\n*3\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$15\r\nclient|getredir\r\n:2\r\n*3\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$14\r\nclient|caching\r\n:3\r\n*3\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n";
        assert_eq!(
            h.run(
                "COMMAND INFO client|setname CLIENT|LIST client|help client|info client|id \
                 client|getname client|trackinginfo client|getredir client|caching"
            ),
            subs
        );
        // Only the subcommands kevy implements are listed.
        let client = h.run("COMMAND INFO client");
        assert!(client.starts_with("*1\r\n*10\r\n$6\r\nclient\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*10\r\n"));
        assert!(client.contains("$14\r\nclient|setinfo\r\n:4\r\n"));
        assert!(!client.contains("client|kill"));
    }

    #[test]
    fn command_info_in_resp3_uses_sets_and_nulls() {
        let mut h = harness();
        h.client.resp3 = true;
        assert_eq!(
            h.run("COMMAND INFO ping"),
            "*1\r\n*10\r\n$4\r\nping\r\n:-1\r\n~1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n~2\r\n+@fast\r\n\
             +@connection\r\n~2\r\n$25\r\nrequest_policy:all_shards\r\n$29\r\n\
             response_policy:all_succeeded\r\n~0\r\n~0\r\n"
        );
        assert_eq!(
            h.run("COMMAND INFO nosuch client|nosuch a|b|c"),
            "*3\r\n_\r\n_\r\n_\r\n"
        );
        h.client.resp3 = false;
        assert_eq!(h.run("COMMAND INFO nosuch"), "*1\r\n$-1\r\n");
    }

    #[test]
    fn command_lists_every_table_entry() {
        let mut h = harness();
        let n = h.server().table.len();
        assert_eq!(h.run("COMMAND COUNT"), format!(":{n}\r\n"));
        assert!(h.run("COMMAND").starts_with(&format!("*{n}\r\n*10\r\n")));
        assert!(h
            .run("COMMAND INFO")
            .starts_with(&format!("*{n}\r\n*10\r\n")));
        let list = h.run("COMMAND LIST");
        let subs: usize = h
            .server()
            .table
            .iter()
            .map(|s| subcommands(s.name).len())
            .sum();
        assert!(list.starts_with(&format!("*{}\r\n", n + subs)));
        assert!(list.contains("$6\r\nclient\r\n$19\r\nclient|trackinginfo\r\n"));
        assert_eq!(
            h.run("COMMAND LIST FILTERBY PATTERN config|[gs]et"),
            "*2\r\n$10\r\nconfig|get\r\n$10\r\nconfig|set\r\n"
        );
        // Table order, each command followed by its subcommands.
        let mut want = Vec::new();
        for spec in h.server().table.iter() {
            let names = std::iter::once((spec.name, spec.acl))
                .chain(subcommands(spec.name).iter().map(|s| (s.name, s.acl)));
            for (name, acl) in names {
                if acl.contains(&"@dangerous") {
                    want.push(format!("${}\r\n{name}\r\n", name.len()));
                }
            }
        }
        let got = h.run("COMMAND LIST filterby aclcat DANGEROUS");
        assert_eq!(got, format!("*{}\r\n{}", want.len(), want.concat()));
        for name in ["client|list", "config|set", "info", "lastsave"] {
            assert!(got.contains(&format!("\r\n{name}\r\n")), "{name}");
        }
        assert_eq!(h.run("COMMAND LIST FILTERBY MODULE x"), "*0\r\n");
        assert_eq!(h.run("COMMAND LIST FILTERBY"), "-ERR syntax error\r\n");
        assert_eq!(
            h.run("COMMAND LIST FILTERBY foo x"),
            "-ERR syntax error\r\n"
        );
        assert_eq!(h.run("COMMAND LIST x"), "-ERR syntax error\r\n");
    }

    #[test]
    fn container_errors_match_redis() {
        let mut h = harness();
        assert_eq!(
            h.run("COMMAND xyz"),
            "-ERR unknown subcommand 'xyz'. Try COMMAND HELP.\r\n"
        );
        assert_eq!(
            h.run("command Xyz a"),
            "-ERR unknown subcommand 'Xyz'. Try COMMAND HELP.\r\n"
        );
        assert_eq!(
            h.run("COMMAND COUNT x"),
            "-ERR wrong number of arguments for 'command|count' command\r\n"
        );
        assert_eq!(
            h.run("CONFIG"),
            "-ERR wrong number of arguments for 'config' command\r\n"
        );
        assert_eq!(
            h.run("config x"),
            "-ERR unknown subcommand 'x'. Try CONFIG HELP.\r\n"
        );
        assert_eq!(
            h.run("CONFIG GET"),
            "-ERR wrong number of arguments for 'config|get' command\r\n"
        );
        let long = "x".repeat(200);
        assert_eq!(
            h.args(&["CONFIG", &long]),
            format!(
                "-ERR unknown subcommand '{}'. Try CONFIG HELP.\r\n",
                &long[..128]
            )
        );
    }

    #[test]
    fn help_texts_match_redis() {
        let mut h = harness();
        assert_eq!(
            h.run("CONFIG HELP"),
            "*11\r\n+CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+GET <pattern>\r\n\
             +    Return parameters matching the glob-like <pattern> and their values.\r\n\
             +SET <directive> <value>\r\n+    Set the configuration <directive> to <value>.\r\n\
             +RESETSTAT\r\n+    Reset statistics reported by the INFO command.\r\n+REWRITE\r\n\
             +    Rewrite the configuration file.\r\n+HELP\r\n+    Prints this help.\r\n"
        );
        let help = h.run("command help");
        assert!(help.starts_with(
            "*21\r\n+COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+(no subcommand)\r\n"
        ));
        assert!(help.ends_with(
            "+GETKEYSANDFLAGS <full-command>\r\n\
             +    Return the keys and the access flags from a full Redis command.\r\n\
             +HELP\r\n+    Prints this help.\r\n"
        ));
    }

    #[test]
    fn command_docs_match_redis() {
        let mut h = harness();
        assert_eq!(
            h.run("COMMAND DOCS ping"),
            "*2\r\n$4\r\nping\r\n*10\r\n$7\r\nsummary\r\n$15\r\nPing the server\r\n$5\r\nsince\r\n\
             $5\r\n1.0.0\r\n$5\r\ngroup\r\n$10\r\nconnection\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n\
             $9\r\narguments\r\n*1\r\n*6\r\n$4\r\nname\r\n$7\r\nmessage\r\n$4\r\ntype\r\n$6\r\n\
             string\r\n$5\r\nflags\r\n*1\r\n+optional\r\n"
        );
        let config = "*2\r\n$6\r\nconfig\r\n*10\r\n$7\r\nsummary\r\n$45\r\nA container for server configuration commands\r\n$5\r\nsince\r\n$5\r\n2.0.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$22\r\nDepends on subcommand.\r\n$11\r\nsubcommands\r\n*10\r\n$16\r\nconfig|resetstat\r\n*8\r\n$7\r\nsummary\r\n$32\r\nReset the stats returned by INFO\r\n$5\r\nsince\r\n$5\r\n2.0.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$10\r\nconfig|get\r\n*12\r\n$7\r\nsummary\r\n$42\r\nGet the values of configuration parameters\r\n$5\r\nsince\r\n$5\r\n2.0.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$62\r\nO(N) when N is the number of configuration parameters provided\r\n$7\r\nhistory\r\n*1\r\n*2\r\n$5\r\n7.0.0\r\n$65\r\nAdded the ability to pass multiple pattern parameters in one call\r\n$9\r\narguments\r\n*1\r\n*8\r\n$4\r\nname\r\n$9\r\nparameter\r\n$4\r\ntype\r\n$5\r\nblock\r\n$5\r\nflags\r\n*1\r\n+multiple\r\n$9\r\narguments\r\n*1\r\n*4\r\n$4\r\nname\r\n$9\r\nparameter\r\n$4\r\ntype\r\n$6\r\nstring\r\n$14\r\nconfig|rewrite\r\n*8\r\n$7\r\nsummary\r\n$63\r\nRewrite the configuration file with the in memory configuration\r\n$5\r\nsince\r\n$5\r\n2.8.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$10\r\nconfig|set\r\n*12\r\n$7\r\nsummary\r\n$48\r\nSet configuration parameters to the given values\r\n$5\r\nsince\r\n$5\r\n2.0.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$62\r\nO(N) when N is the number of configuration parameters provided\r\n$7\r\nhistory\r\n*1\r\n*2\r\n$5\r\n7.0.0\r\n$57\r\nAdded the ability to set multiple parameters in one call.\r\n$9\r\narguments\r\n*1\r\n*8\r\n$4\r\nname\r\n$15\r\nparameter_value\r\n$4\r\ntype\r\n$5\r\nblock\r\n$5\r\nflags\r\n*1\r\n+multiple\r\n$9\r\narguments\r\n*2\r\n*4\r\n$4\r\nname\r\n$9\r\nparameter\r\n$4\r\ntype\r\n$6\r\nstring\r\n*4\r\n$4\r\nname\r\n$5\r\nvalue\r\n$4\r\ntype\r\n$6\r\nstring\r\n$11\r\nconfig|help\r\n*8\r\n$7\r\nsummary\r\n$49\r\nShow helpful text about the different subcommands\r\n$5\r\nsince\r\n$5\r\n5.0.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n";
        assert_eq!(h.run("COMMAND DOCS config"), config);
        assert_eq!(h.run("COMMAND DOCS nosuch"), "*0\r\n");
        h.client.resp3 = true;
        assert_eq!(
            h.run("COMMAND DOCS ping nosuch SELECT"),
            "%2\r\n$4\r\nping\r\n%5\r\n$7\r\nsummary\r\n$15\r\nPing the server\r\n$5\r\nsince\r\n\
             $5\r\n1.0.0\r\n$5\r\ngroup\r\n$10\r\nconnection\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n\
             $9\r\narguments\r\n*1\r\n%3\r\n$4\r\nname\r\n$7\r\nmessage\r\n$4\r\ntype\r\n$6\r\n\
             string\r\n$5\r\nflags\r\n~1\r\n+optional\r\n$6\r\nselect\r\n%5\r\n$7\r\nsummary\r\n\
             $55\r\nChange the selected database for the current connection\r\n$5\r\nsince\r\n\
             $5\r\n1.0.0\r\n$5\r\ngroup\r\n$10\r\nconnection\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n\
             $9\r\narguments\r\n*1\r\n%2\r\n$4\r\nname\r\n$5\r\nindex\r\n$4\r\ntype\r\n$7\r\n\
             integer\r\n"
        );
    }

    #[test]
    fn command_docs_cover_every_command_and_undocumented_ones_stay_well_formed() {
        let mut server = Server::new(Config {
            bind: "127.0.0.1".into(),
            port: 7777,
            shards: 2,
        });
        server
            .table
            .add(keyed("kevy.test", 2, flag::WRITE, (1, 1, 1)));
        let mut h = with_server(server);
        let n = h.server().table.len();
        assert!(h
            .run("COMMAND DOCS")
            .starts_with(&format!("*{}\r\n", 2 * n)));
        assert_eq!(
            h.run("COMMAND DOCS kevy.test"),
            format!(
                "*2\r\n$9\r\nkevy.test\r\n*6\r\n$7\r\nsummary\r\n$0\r\n\r\n$5\r\nsince\r\n$5\r\n{}\r\n\
                 $5\r\ngroup\r\n$6\r\nstring\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        let client = h.run("COMMAND DOCS client");
        assert!(client.contains("$11\r\nsubcommands\r\n*20\r\n$19\r\nclient|trackinginfo\r\n"));
        assert!(client.contains("$14\r\nclient|setinfo\r\n*10\r\n$7\r\nsummary\r\n"));
    }

    #[test]
    fn key_specs_come_from_redis_only_while_the_range_agrees() {
        let getdel = docs::find("getdel");
        let redis = enc(false, |r| {
            reply_key_specs(r, flag::WRITE | flag::FAST, (1, 1, 1), getdel)
        });
        assert_eq!(
            redis,
            "*1\r\n*6\r\n$5\r\nflags\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n$12\r\nbegin_search\r\n\
             *4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n\
             $9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\n\
             lastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n"
        );
        // A range the table disagrees on: one spec derived from the table.
        let derived = enc(true, |r| {
            reply_key_specs(r, flag::READONLY, (2, -1, 2), getdel)
        });
        assert_eq!(
            derived,
            "~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n\
             $4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:2\r\n$9\r\n\
             find_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n\
             :-1\r\n$7\r\nkeystep\r\n:2\r\n$5\r\nlimit\r\n:0\r\n"
        );
        assert_eq!(
            enc(false, |r| reply_key_specs(r, 0, (0, 0, 0), None)),
            "*0\r\n"
        );
        // SET's spec carries notes; XREAD's begins at a keyword.
        let set = enc(false, |r| {
            reply_key_specs(r, flag::WRITE, (1, 1, 1), docs::find("set"))
        });
        assert!(set.starts_with("*1\r\n*8\r\n$5\r\nnotes\r\n$48\r\nRW and ACCESS due to the optional `GET` argument\r\n"));
        let xread = enc(false, |r| {
            reply_key_specs(r, flag::READONLY, (0, 0, 0), docs::find("xread"))
        });
        assert!(xread
            .contains("$7\r\nkeyword\r\n$4\r\nspec\r\n*4\r\n$7\r\nkeyword\r\n$7\r\nSTREAMS\r\n"));
    }

    #[test]
    fn getkeys_follows_the_table() {
        let mut server = Server::new(Config {
            bind: "127.0.0.1".into(),
            port: 7777,
            shards: 2,
        });
        server
            .table
            .add(keyed("kevy.one", 2, flag::READONLY, (1, 1, 1)));
        server
            .table
            .add(keyed("kevy.pairs", -3, flag::WRITE, (1, -1, 2)));
        let mut h = with_server(server);
        assert_eq!(h.run("COMMAND GETKEYS kevy.one k"), "*1\r\n$1\r\nk\r\n");
        assert_eq!(
            h.run("COMMAND GETKEYS KEVY.PAIRS a 1 b 2"),
            "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        assert_eq!(
            h.run("COMMAND GETKEYS kevy.pairs a 1 b"),
            "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        assert_eq!(
            h.run("COMMAND GETKEYSANDFLAGS kevy.one k"),
            "*1\r\n*2\r\n$1\r\nk\r\n*2\r\n+RO\r\n+access\r\n"
        );
        assert_eq!(
            h.run("COMMAND GETKEYS kevy.one a b"),
            "-ERR Invalid number of arguments specified for command\r\n"
        );
        assert_eq!(
            h.run("COMMAND GETKEYS nosuch k"),
            "-ERR Invalid command specified\r\n"
        );
        assert_eq!(
            h.run("COMMAND GETKEYS ping x"),
            "-ERR The command has no key arguments\r\n"
        );
        assert_eq!(
            h.run("COMMAND GETKEYS client setname x"),
            "-ERR The command has no key arguments\r\n"
        );
        assert_eq!(
            h.run("COMMAND GETKEYS client nosuch x"),
            "-ERR Invalid command specified\r\n"
        );
        assert_eq!(
            h.run("COMMAND GETKEYS kevy.one"),
            "-ERR wrong number of arguments for 'command|getkeys' command\r\n"
        );
        // COMMAND INFO reports the table's range and a spec derived from it.
        let info = h.run("COMMAND INFO kevy.pairs");
        assert!(info.starts_with(
            "*1\r\n*10\r\n$10\r\nkevy.pairs\r\n:-3\r\n*1\r\n+write\r\n:1\r\n:-1\r\n:2\r\n"
        ));
        assert!(info.contains("+RW\r\n+update\r\n"));
    }

    #[test]
    fn config_get_answers_like_redis() {
        let mut h = harness();
        assert_eq!(h.run("CONFIG GET save"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
        assert_eq!(
            h.run("CONFIG GET appendonly"),
            "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
        );
        assert_eq!(h.run("CONFIG GET SAVE"), "*2\r\n$4\r\nSAVE\r\n$0\r\n\r\n");
        assert_eq!(
            h.run("CONFIG GET databases"),
            "*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n"
        );
        assert_eq!(
            h.run("CONFIG GET port"),
            "*2\r\n$4\r\nport\r\n$4\r\n7777\r\n"
        );
        assert_eq!(
            h.run("CONFIG GET bind"),
            "*2\r\n$4\r\nbind\r\n$9\r\n127.0.0.1\r\n"
        );
        assert_eq!(h.run("CONFIG GET nosuch"), "*0\r\n");
        assert_eq!(
            h.run("CONFIG GET save appendonly save SAVE"),
            "*4\r\n$4\r\nsave\r\n$0\r\n\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
        );
        assert_eq!(
            h.run("CONFIG GET maxmemory*"),
            "*10\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n\
             $17\r\nmaxmemory-samples\r\n$1\r\n5\r\n$27\r\nmaxmemory-eviction-tenacity\r\n$2\r\n10\r\n\
             $17\r\nmaxmemory-clients\r\n$1\r\n0\r\n"
        );
        // Aliases answer to patterns under their own names.
        let zset = h.run("CONFIG GET zset-max-*-entries");
        assert_eq!(
            zset,
            "*4\r\n$25\r\nzset-max-listpack-entries\r\n$3\r\n128\r\n$24\r\nzset-max-ziplist-entries\r\n$3\r\n128\r\n"
        );
        assert_eq!(
            h.run("CONFIG GET proto-max-bulk-len"),
            format!(
                "*2\r\n$18\r\nproto-max-bulk-len\r\n${}\r\n{}\r\n",
                kevy_resp::MAX_BULK_LEN.to_string().len(),
                kevy_resp::MAX_BULK_LEN
            )
        );
        h.client.resp3 = true;
        assert_eq!(
            h.run("CONFIG GET appendonly"),
            "%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
        );
    }

    #[test]
    fn config_set_validates_like_redis() {
        let mut h = harness();
        let cases = [
            ("CONFIG SET x y", "-ERR Unknown option or number of arguments for CONFIG SET - 'x'\r\n"),
            ("CONFIG SET save", "-ERR wrong number of arguments for 'config|set' command\r\n"),
            ("CONFIG SET hz 10 x", "-ERR syntax error\r\n"),
            (
                "CONFIG SET appendonly maybe",
                "-ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'\r\n",
            ),
            (
                "CONFIG SET maxmemory abc",
                "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n",
            ),
            (
                "CONFIG SET hz x",
                "-ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer\r\n",
            ),
            (
                "CONFIG SET hz -1",
                "-ERR CONFIG SET failed (possibly related to argument 'hz') - argument must be between 0 and 2147483647 inclusive\r\n",
            ),
            (
                "CONFIG SET maxmemory-policy foo",
                "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction\r\n",
            ),
            (
                "CONFIG SET databases 3",
                "-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n",
            ),
            (
                "CONFIG SET hz 10 HZ 11",
                "-ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter\r\n",
            ),
            (
                "CONFIG SET hz 10 nosuch 1",
                "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n",
            ),
            (
                "CONFIG SET save 1",
                "-ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters\r\n",
            ),
            (
                "CONFIG SET daemonize yes",
                "-ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config\r\n",
            ),
        ];
        for (cmd, want) in cases {
            assert_eq!(h.run(cmd), want, "{cmd}");
        }
        // Settings kevy does not implement accept only their current value.
        assert_eq!(h.args(&["CONFIG", "SET", "save", ""]), "+OK\r\n");
        assert_eq!(h.run("CONFIG SET appendonly NO maxmemory 0kb"), "+OK\r\n");
        assert_eq!(
            h.run("CONFIG SET appendonly yes"),
            "-ERR CONFIG SET failed (possibly related to argument 'appendonly') - not supported by kevy\r\n"
        );
        assert_eq!(
            h.run("CONFIG SET maxmemory 1gb"),
            "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - not supported by kevy\r\n"
        );
        assert_eq!(
            h.run("CONFIG REWRITE"),
            "-ERR The server is running without a config file\r\n"
        );
    }

    #[test]
    fn config_set_remembers_tunables_atomically() {
        let mut h = harness();
        // A failing pair leaves the whole command without effect.
        assert!(h
            .run("CONFIG SET hash-max-listpack-value 99 appendonly yes")
            .starts_with("-ERR"));
        assert_eq!(
            h.run("CONFIG GET hash-max-listpack-value"),
            "*2\r\n$23\r\nhash-max-listpack-value\r\n$2\r\n64\r\n"
        );
        assert_eq!(
            h.run("CONFIG SET hash-max-ziplist-value 99 activerehashing NO"),
            "+OK\r\n"
        );
        assert_eq!(
            h.run("CONFIG GET hash-max-listpack-value"),
            "*2\r\n$23\r\nhash-max-listpack-value\r\n$2\r\n99\r\n"
        );
        assert_eq!(
            h.run("CONFIG GET activerehashing"),
            "*2\r\n$15\r\nactiverehashing\r\n$2\r\nno\r\n"
        );
        assert_eq!(
            h.run("CONFIG SET hash-max-listpack-value 64 activerehashing yes"),
            "+OK\r\n"
        );
        assert_eq!(
            h.run("CONFIG GET hash-max-ziplist-value"),
            "*2\r\n$22\r\nhash-max-ziplist-value\r\n$2\r\n64\r\n"
        );
    }

    #[test]
    fn values_parse_like_redis() {
        assert_eq!(parse_memory(b"1gb"), Some(1 << 30));
        assert_eq!(parse_memory(b"1G"), Some(1_000_000_000));
        assert_eq!(parse_memory(b"10kb"), Some(10240));
        assert_eq!(parse_memory(b"123"), Some(123));
        assert_eq!(parse_memory(b"-1"), None);
        assert_eq!(parse_memory(b"1tb"), None);
        assert_eq!(parse_memory(b"99999999999999999999"), None);
        assert_eq!(
            normalize(Kind::Save, b"3600 1  300 100").unwrap(),
            "3600 1 300 100"
        );
        assert!(normalize(Kind::Save, b"0 1").is_err());
        assert!(normalize(Kind::Save, b"10 -1").is_err());
        assert_eq!(
            normalize(Kind::Enum(POLICIES), b"AllKeys-LRU").unwrap(),
            "allkeys-lru"
        );
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1068288), "1.02M");
        assert_eq!(bytes_to_human(25276502016), "23.54G");
        assert_eq!(c_str(b"ab\0cd", 10), "ab");
        assert_eq!(c_str(b"abcdef", 3), "abc");
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
        assert!(everything
            .contains("# Commandstats\r\n\r\n# Errorstats\r\n\r\n# Latencystats\r\n\r\n# Cluster"));
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
        let server = h.server();
        server.published[0].keys[0].store(2, Relaxed);
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
}
