//! The COMMAND family: COMMAND, COUNT, INFO, DOCS, LIST, GETKEYS and
//! GETKEYSANDFLAGS. COMMAND describes the command table itself (plus the
//! documentation in [`docs`]), so what a client learns about a command is
//! exactly what routing uses. A container reports Redis's subcommands, those
//! kevy runs described by its own [`SubSpec`] table, the rest by [`docs`].

pub mod docs;
mod keys;

use super::common::{conn_spec, dispatch, reply_help};
use crate::ctx::ConnCtx;
use crate::table::{arity_ok, flag, CommandSpec, SubSpec, Table};
use docs::{Begin, Doc, Find, KeySpec};
use kevy_resp::{Args, OwnedArgs, Reply};
use kevy_rt::ConnAction;
use kevy_store::glob::matches_with;

pub fn register(t: &mut Table) {
    t.add_container(
        conn_spec("command", -1, CMD_FLAGS, CMD_ACL, cmd_command),
        COMMAND_SUBS,
    );
}

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
        reply_spec_info(&mut ctx.out, table, spec);
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

/// A subcommand as COMMAND describes it: Redis's entry from [`docs`] and,
/// where kevy runs it, kevy's own (which supplies arity, flags and ACL
/// categories). A subcommand kevy adds has no Redis entry.
#[derive(Clone, Copy)]
struct Sub {
    name: &'static str,
    kevy: Option<&'static SubSpec>,
    doc: Option<&'static Doc>,
}

impl Sub {
    fn short(&self) -> &'static str {
        self.name.split_once('|').map_or(self.name, |(_, s)| s)
    }

    fn arity(&self) -> i32 {
        match (self.kevy, self.doc) {
            (Some(s), _) => s.arity,
            (None, Some(d)) => d.arity,
            (None, None) => 0,
        }
    }

    fn flags(&self) -> Vec<&'static str> {
        match (self.kevy, self.doc) {
            (Some(s), _) => flag_names(s.flags).collect(),
            (None, Some(d)) => d.flags.to_vec(),
            (None, None) => Vec::new(),
        }
    }

    fn acl(&self) -> &'static [&'static str] {
        match (self.kevy, self.doc) {
            (Some(s), _) => s.acl,
            (None, Some(d)) => d.acl,
            (None, None) => &[],
        }
    }

    /// Redis's `first, last, step` (0 0 0 for a subcommand Redis lacks).
    fn legacy(&self) -> (i32, i32, i32) {
        self.doc.map_or((0, 0, 0), |d| d.legacy)
    }
}

/// The subcommands COMMAND reports for a container: every one Redis has,
/// whether or not kevy runs it (so clients learn Redis's key positions, and
/// Redis's names answer COMMAND INFO), then those kevy adds. Empty for a
/// command that is no container.
fn subs_of(table: &Table, name: &str) -> Vec<Sub> {
    let kevy = table.subcommands(name);
    let docs = docs::find(name).map_or(&[][..], |d| d.subcommands);
    let mut out: Vec<Sub> = docs
        .iter()
        .map(|d| Sub {
            name: d.name,
            kevy: kevy.iter().find(|s| s.name == d.name),
            doc: Some(d),
        })
        .collect();
    for s in kevy {
        if !docs.iter().any(|d| d.name == s.name) {
            out.push(Sub {
                name: s.name,
                kevy: Some(s),
                doc: None,
            });
        }
    }
    out
}

/// The subcommand of `subs` named `short` (any case).
fn find_sub(subs: &[Sub], short: &[u8]) -> Option<Sub> {
    subs.iter()
        .find(|s| s.short().as_bytes().eq_ignore_ascii_case(short))
        .copied()
}

/// A command or subcommand found by a name COMMAND was given.
enum Found<'t> {
    Top(&'t CommandSpec),
    Sub(Sub),
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
    find_sub(&subs_of(table, base.name), sub).map(Found::Sub)
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
            Some(Found::Top(spec)) => reply_spec_info(&mut ctx.out, table, spec),
            Some(Found::Sub(sub)) => reply_sub_info(&mut ctx.out, &sub),
            None => ctx.out.null(),
        }
    }
    ConnAction::Continue
}

/// One COMMAND INFO entry: `[name, arity, flags, first, last, step, acl
/// categories, tips, key specs, subcommands]`.
fn reply_spec_info(out: &mut Reply<'_>, table: &Table, spec: &CommandSpec) {
    let doc = docs::find(spec.name);
    let range = (spec.first, spec.last, spec.step);
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(spec.arity.into());
    reply_flags(out, &flag_names(spec.flags).collect::<Vec<_>>());
    out.int(spec.first.into());
    out.int(spec.last.into());
    out.int(spec.step.into());
    reply_acl(out, spec.acl);
    reply_tips(out, doc.map_or(&[], |d| d.tips));
    reply_key_specs(out, spec.flags, range, doc);
    let subs = subs_of(table, spec.name);
    if subs.is_empty() {
        out.set(0);
    } else {
        out.array(subs.len());
        for s in &subs {
            reply_sub_info(out, s);
        }
    }
}

fn reply_sub_info(out: &mut Reply<'_>, sub: &Sub) {
    let (first, last, step) = sub.legacy();
    out.array(10);
    out.bulk(sub.name.as_bytes());
    out.int(sub.arity().into());
    reply_flags(out, &sub.flags());
    out.int(first.into());
    out.int(last.into());
    out.int(step.into());
    reply_acl(out, sub.acl());
    reply_tips(out, sub.doc.map_or(&[], |d| d.tips));
    reply_key_specs(out, 0, sub.legacy(), sub.doc);
    out.set(0);
}

/// Command flags by name, in the order COMMAND INFO lists them.
/// `may_replicate` is internal: Redis hides it, so kevy does too.
fn flag_names(flags: u32) -> impl Iterator<Item = &'static str> {
    flag::NAMES
        .iter()
        .filter(move |(bit, _)| flags & bit != 0 && *bit != flag::MAY_REPLICATE)
        .map(|(_, name)| *name)
}

fn reply_flags(out: &mut Reply<'_>, names: &[&str]) {
    out.set(names.len());
    for name in names {
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
fn key_specs_for(flags: u32, range: (i32, i32, i32), doc: Option<&Doc>) -> Vec<KeySpec> {
    if let Some(d) = doc.filter(|d| d.legacy == range && !d.key_specs.is_empty()) {
        return d.key_specs.to_vec();
    }
    let (first, last, step) = range;
    if first <= 0 {
        return Vec::new();
    }
    let lastkey = if last < 0 { last } else { last - first };
    vec![KeySpec {
        notes: None,
        flags: derived_key_flags(flags),
        begin: Begin::Index(first.into()),
        find: Find::Range(lastkey.into(), step.into(), 0),
    }]
}

fn reply_key_specs(out: &mut Reply<'_>, flags: u32, range: (i32, i32, i32), doc: Option<&Doc>) {
    let specs = key_specs_for(flags, range, doc);
    out.set(specs.len());
    for ks in &specs {
        reply_key_spec(out, ks);
    }
}

fn reply_key_spec(out: &mut Reply<'_>, ks: &KeySpec) {
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
        for s in subs_of(&ctx.server.table, spec.name) {
            if keep(s.name, s.acl()) {
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
            reply_spec_doc(&mut ctx.out, table, spec);
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
                reply_spec_doc(&mut ctx.out, table, spec);
            }
            Found::Sub(sub) => {
                ctx.out.bulk(sub.name.as_bytes());
                reply_sub_doc(&mut ctx.out, &sub);
            }
        }
    }
    ConnAction::Continue
}

fn reply_spec_doc(out: &mut Reply<'_>, table: &Table, spec: &CommandSpec) {
    let subs = subs_of(table, spec.name);
    match docs::find(spec.name) {
        Some(d) => reply_doc(out, d, !subs.is_empty()),
        None => reply_minimal_doc(out, spec.acl, !subs.is_empty()),
    }
    if !subs.is_empty() {
        out.map(subs.len());
        for s in &subs {
            out.bulk(s.name.as_bytes());
            reply_sub_doc(out, s);
        }
    }
}

fn reply_sub_doc(out: &mut Reply<'_>, sub: &Sub) {
    match sub.doc {
        Some(d) => reply_doc(out, d, false),
        None => reply_minimal_doc(out, sub.acl(), false),
    }
}

/// A doc map in Redis's field order. With `has_subs`, the caller writes the
/// `subcommands` value right after.
fn reply_doc(out: &mut Reply<'_>, d: &Doc, has_subs: bool) {
    let n = 3
        + usize::from(d.complexity.is_some())
        + usize::from(!d.doc_flags.is_empty())
        + usize::from(d.deprecated_since.is_some())
        + usize::from(d.replaced_by.is_some())
        + usize::from(!d.history.is_empty())
        + usize::from(!d.args.is_empty())
        + usize::from(has_subs);
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
    if has_subs {
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

/// The keys of command line `args` with their key-spec flags, found as
/// COMMAND GETKEYSANDFLAGS finds them; none for an unknown command or
/// subcommand. The ACL check reads them.
pub fn key_args(table: &Table, args: Args<'_>) -> Vec<(usize, &'static [&'static str])> {
    let Some(spec) = table.lookup(args.get(0)).map(|id| table.get(id)) else {
        return Vec::new();
    };
    let subs = subs_of(table, spec.name);
    let (name, specs) = if subs.is_empty() || args.len() == 1 {
        let range = (spec.first, spec.last, spec.step);
        (
            spec.name,
            key_specs_for(spec.flags, range, docs::find(spec.name)),
        )
    } else {
        let Some(sub) = find_sub(&subs, args.get(1)) else {
            return Vec::new();
        };
        (sub.name, sub.doc.map_or(&[][..], |d| d.key_specs).to_vec())
    };
    if !keys::has_keys(name, &specs) {
        return Vec::new();
    }
    keys::find(name, &specs, args)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS, as Redis finds keys: by the key specs
/// of the command (or of the container's subcommand), falling back to the
/// command's own parser. The specs are Redis's while the table's key range
/// is Redis's, so the keys are the ones routing takes.
fn getkeys(ctx: &mut ConnCtx<'_>, with_flags: bool) -> ConnAction {
    let inner = OwnedArgs::from_slices(ctx.args.iter().skip(2));
    let args = inner.args();
    let table = &ctx.server.table;
    let Some(spec) = table.lookup(args.get(0)).map(|id| table.get(id)) else {
        ctx.out.error("ERR Invalid command specified");
        return ConnAction::Continue;
    };
    let subs = subs_of(table, spec.name);
    // Redis's `lookupCommand`: a container's first argument names the
    // subcommand, and an unknown one is no command at all.
    let (name, arity, no_mandatory, specs) = if subs.is_empty() || args.len() == 1 {
        let range = (spec.first, spec.last, spec.step);
        let specs = key_specs_for(spec.flags, range, docs::find(spec.name));
        let no_mandatory = spec.flags & flag::NO_MANDATORY_KEYS != 0;
        (spec.name, spec.arity, no_mandatory, specs)
    } else {
        let Some(sub) = find_sub(&subs, args.get(1)) else {
            ctx.out.error("ERR Invalid command specified");
            return ConnAction::Continue;
        };
        let no_mandatory = sub.flags().contains(&"no_mandatory_keys");
        let specs = sub.doc.map_or(&[][..], |d| d.key_specs).to_vec();
        (sub.name, sub.arity(), no_mandatory, specs)
    };
    if !keys::has_keys(name, &specs) {
        ctx.out.error("ERR The command has no key arguments");
        return ConnAction::Continue;
    }
    if !arity_ok(arity, args.len()) {
        ctx.out
            .error("ERR Invalid number of arguments specified for command");
        return ConnAction::Continue;
    }
    let found = keys::find(name, &specs, args);
    if found.is_empty() && !no_mandatory {
        ctx.out.error("ERR Invalid arguments specified for command");
        return ConnAction::Continue;
    }
    ctx.out.array(found.len());
    for (i, flags) in found {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(args.get(i));
            ctx.out.set(flags.len());
            for f in flags {
                ctx.out.simple(f.as_bytes());
            }
        } else {
            ctx.out.bulk(args.get(i));
        }
    }
    ConnAction::Continue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::harness::{harness, with_server};
    use crate::server::{Config, Server};
    use crate::table::{Handler, RouteKind};
    use kevy_rt::Fold;

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
        let config = "*1\r\n*10\r\n$6\r\nconfig\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*5\r\n*10\r\n$10\r\nconfig|get\r\n:-3\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n*10\r\n$11\r\nconfig|help\r\n:2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*0\r\n*10\r\n$16\r\nconfig|resetstat\r\n:2\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n*10\r\n$14\r\nconfig|rewrite\r\n:2\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n*10\r\n$10\r\nconfig|set\r\n:-4\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*2\r\n$24\r\nrequest_policy:all_nodes\r\n$29\r\nresponse_policy:all_succeeded\r\n*0\r\n*0\r\n";
        assert_eq!(h.run("COMMAND INFO config"), config);
        let command = "*1\r\n*10\r\n$7\r\ncommand\r\n:-1\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*1\r\n$29\r\nnondeterministic_output_order\r\n*0\r\n*7\r\n*10\r\n$13\r\ncommand|count\r\n:2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$12\r\ncommand|docs\r\n:-2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*1\r\n$29\r\nnondeterministic_output_order\r\n*0\r\n*0\r\n*10\r\n$15\r\ncommand|getkeys\r\n:-4\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$23\r\ncommand|getkeysandflags\r\n:-4\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$12\r\ncommand|help\r\n:2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n*10\r\n$12\r\ncommand|info\r\n:-2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*1\r\n$29\r\nnondeterministic_output_order\r\n*0\r\n*0\r\n*10\r\n$12\r\ncommand|list\r\n:-2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@connection\r\n*1\r\n$29\r\nnondeterministic_output_order\r\n*0\r\n*0\r\n";
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
        // Redis's subcommands, whether kevy runs them or not, then the two
        // kevy adds (Redis 7.2's).
        let client = h.run("COMMAND INFO client");
        assert!(client.starts_with("*1\r\n*10\r\n$6\r\nclient\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*18\r\n"));
        assert!(client.contains("$14\r\nclient|setinfo\r\n:4\r\n"));
        assert!(client.contains("$15\r\nclient|no-touch\r\n:3\r\n"));
        assert!(client.contains("$11\r\nclient|kill\r\n:-3\r\n"));
        // OBJECT's subcommands carry their key positions and specs.
        let object = h.run("COMMAND INFO object|encoding");
        assert!(object.starts_with(
            "*1\r\n*10\r\n$15\r\nobject|encoding\r\n:3\r\n*1\r\n+readonly\r\n:2\r\n:2\r\n:1\r\n"
        ));
        assert!(object.contains("$5\r\nindex\r\n:2\r\n"));
    }

    /// Every table entry and every subcommand kevy runs reports what Redis
    /// reports, so COMMAND INFO (and clients routing by it) see Redis.
    #[test]
    fn the_table_describes_commands_as_redis_does() {
        let t = Table::new();
        let cats = |acl: &[&str]| -> Vec<String> {
            acl.iter()
                .map(|a| format!("@{}", a.trim_start_matches('@')))
                .collect()
        };
        for spec in t.iter() {
            let d = docs::find(spec.name).unwrap_or_else(|| panic!("{}: not Redis's", spec.name));
            assert_eq!(spec.arity, d.arity, "{} arity", spec.name);
            assert_eq!(
                flag_names(spec.flags).collect::<Vec<_>>(),
                d.flags,
                "{} flags",
                spec.name
            );
            assert_eq!(cats(spec.acl), cats(d.acl), "{} acl", spec.name);
            assert_eq!(
                (spec.first, spec.last, spec.step),
                d.legacy,
                "{} keys",
                spec.name
            );
            for sub in t.subcommands(spec.name) {
                let sd = docs::find_sub(d, sub.name).unwrap();
                assert_eq!(sub.arity, sd.arity, "{} arity", sub.name);
                assert_eq!(
                    flag_names(sub.flags).collect::<Vec<_>>(),
                    sd.flags,
                    "{}",
                    sub.name
                );
                assert_eq!(cats(sub.acl), cats(sd.acl), "{} acl", sub.name);
            }
        }
    }

    /// Argument lists of a command's documented shapes: the required
    /// arguments only, then every optional one with the first and with the
    /// last choice of each alternative. `numkeys` counts the keys after it.
    fn shapes(name: &str, args: &[docs::Arg]) -> Vec<Vec<String>> {
        fn one(a: &docs::Arg, mode: u8, n: &mut usize, out: &mut Vec<String>) {
            let optional = a.flags.contains(&"optional");
            if optional && mode == 0 {
                return;
            }
            let reps = if a.flags.contains(&"multiple") && mode != 0 {
                2
            } else {
                1
            };
            for i in 0..reps {
                if let Some(t) = a.token {
                    if i == 0 || a.flags.contains(&"multiple_token") {
                        out.push(t.to_string());
                    }
                }
                match a.kind {
                    "key" => {
                        *n += 1;
                        out.push(format!("k{n}"));
                    }
                    "integer" if a.name == "numkeys" => out.push("#".into()),
                    "integer" => out.push("1".into()),
                    "double" => out.push("1.5".into()),
                    "unix-time" => out.push("100".into()),
                    "pattern" => out.push("*".into()),
                    "pure-token" => {}
                    "oneof" => {
                        let pick = if mode == 2 {
                            a.args.last()
                        } else {
                            a.args.first()
                        };
                        if let Some(p) = pick {
                            one(p, mode, n, out);
                        }
                    }
                    "block" => a.args.iter().for_each(|b| one(b, mode, n, out)),
                    _ => out.push("v".into()),
                }
            }
        }
        let mut all: Vec<Vec<String>> = Vec::new();
        for mode in 0..3 {
            let (mut n, mut argv) = (0, vec![name.to_string()]);
            for a in args {
                one(a, mode, &mut n, &mut argv);
            }
            if let Some(i) = argv.iter().position(|a| a == "#") {
                let keys = argv[i + 1..]
                    .iter()
                    .take_while(|a| a.starts_with('k'))
                    .count();
                argv[i] = keys.to_string();
            }
            if !all.contains(&argv) {
                all.push(argv);
            }
        }
        all
    }

    /// For every command, on each documented shape that routes, the keys
    /// GETKEYS reports are the keys kevy routes on.
    #[test]
    fn getkeys_reports_the_keys_routing_takes() {
        use kevy_rt::{Fold, Route, Service, TxOp};
        use std::collections::BTreeSet;
        let h = harness();
        let table = &h.server().table;
        let mut checked = 0;
        for spec in table.iter().filter(|s| subs_of(table, s.name).is_empty()) {
            let doc = docs::find(spec.name).unwrap();
            let specs = key_specs_for(spec.flags, (spec.first, spec.last, spec.step), Some(doc));
            for argv in shapes(spec.name, doc.args) {
                let owned = OwnedArgs::from_slices(argv.iter().map(|a| a.as_bytes()));
                let args = owned.args();
                let argc = args.len() as i64;
                let range = |first: i64, last: i64, step: i64| {
                    let last = if last < 0 { argc + last } else { last };
                    (first..=last.min(argc - 1))
                        .step_by(step.max(1) as usize)
                        .filter(|&i| i > 0)
                        .map(|i| i as usize)
                        .collect::<BTreeSet<usize>>()
                };
                let route = match h.kevy.route(args, &h.client, 2) {
                    // Keys named by values (SORT's patterns) make the
                    // command reach the whole keyspace on several shards;
                    // its own keys are the ones it routes on with one.
                    Ok((_, Route::All(Fold::One))) => h.kevy.route(args, &h.client, 1),
                    r => r,
                };
                let routed = match route {
                    Err(_) => continue,
                    Ok((
                        _,
                        Route::Keys {
                            first,
                            last,
                            step,
                            extra,
                            ..
                        },
                    )) => {
                        let mut keys = range(first.into(), last.into(), step.into());
                        keys.extend((extra > 0).then_some(extra as usize));
                        keys
                    }
                    Ok((_, Route::Tx(TxOp::Watch))) => {
                        range(spec.first.into(), spec.last.into(), spec.step.into())
                    }
                    Ok(_) => BTreeSet::new(),
                };
                let found: BTreeSet<usize> = if keys::has_keys(spec.name, &specs) {
                    keys::find(spec.name, &specs, args)
                        .into_iter()
                        .map(|(i, _)| i)
                        .collect()
                } else {
                    BTreeSet::new()
                };
                // Redis's specs for GEORADIUS(BYMEMBER) find every STORE
                // and STOREDIST keyword; the command writes only the last
                // one its parser accepts, and kevy routes on that one.
                if matches!(spec.name, "georadius" | "georadiusbymember") {
                    assert!(routed.is_subset(&found) && routed.contains(&1), "{argv:?}");
                } else {
                    assert_eq!(found, routed, "{argv:?}");
                }
                checked += 1;
            }
        }
        assert!(checked > 200, "only {checked} argument lists routed");
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
            .map(|s| subs_of(&h.server().table, s.name).len())
            .sum();
        assert!(list.starts_with(&format!("*{}\r\n", n + subs)));
        assert!(list.contains("$6\r\nclient\r\n$14\r\nclient|caching\r\n"));
        assert_eq!(
            h.run("COMMAND LIST FILTERBY PATTERN config|[gs]et"),
            "*2\r\n$10\r\nconfig|get\r\n$10\r\nconfig|set\r\n"
        );
        // Table order, each command followed by its subcommands.
        let mut want = Vec::new();
        for spec in h.server().table.iter() {
            let subs = subs_of(&h.server().table, spec.name);
            let names = std::iter::once((spec.name, spec.acl))
                .chain(subs.iter().map(|s| (s.name, s.acl())));
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
        let config = "*2\r\n$6\r\nconfig\r\n*10\r\n$7\r\nsummary\r\n$45\r\nA container for server configuration commands\r\n$5\r\nsince\r\n$5\r\n2.0.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$22\r\nDepends on subcommand.\r\n$11\r\nsubcommands\r\n*10\r\n$10\r\nconfig|get\r\n*12\r\n$7\r\nsummary\r\n$42\r\nGet the values of configuration parameters\r\n$5\r\nsince\r\n$5\r\n2.0.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$62\r\nO(N) when N is the number of configuration parameters provided\r\n$7\r\nhistory\r\n*1\r\n*2\r\n$5\r\n7.0.0\r\n$65\r\nAdded the ability to pass multiple pattern parameters in one call\r\n$9\r\narguments\r\n*1\r\n*8\r\n$4\r\nname\r\n$9\r\nparameter\r\n$4\r\ntype\r\n$5\r\nblock\r\n$5\r\nflags\r\n*1\r\n+multiple\r\n$9\r\narguments\r\n*1\r\n*4\r\n$4\r\nname\r\n$9\r\nparameter\r\n$4\r\ntype\r\n$6\r\nstring\r\n$11\r\nconfig|help\r\n*8\r\n$7\r\nsummary\r\n$49\r\nShow helpful text about the different subcommands\r\n$5\r\nsince\r\n$5\r\n5.0.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$16\r\nconfig|resetstat\r\n*8\r\n$7\r\nsummary\r\n$32\r\nReset the stats returned by INFO\r\n$5\r\nsince\r\n$5\r\n2.0.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$14\r\nconfig|rewrite\r\n*8\r\n$7\r\nsummary\r\n$63\r\nRewrite the configuration file with the in memory configuration\r\n$5\r\nsince\r\n$5\r\n2.8.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$10\r\nconfig|set\r\n*12\r\n$7\r\nsummary\r\n$48\r\nSet configuration parameters to the given values\r\n$5\r\nsince\r\n$5\r\n2.0.0\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$62\r\nO(N) when N is the number of configuration parameters provided\r\n$7\r\nhistory\r\n*1\r\n*2\r\n$5\r\n7.0.0\r\n$57\r\nAdded the ability to set multiple parameters in one call.\r\n$9\r\narguments\r\n*1\r\n*8\r\n$4\r\nname\r\n$15\r\nparameter_value\r\n$4\r\ntype\r\n$5\r\nblock\r\n$5\r\nflags\r\n*1\r\n+multiple\r\n$9\r\narguments\r\n*2\r\n*4\r\n$4\r\nname\r\n$9\r\nparameter\r\n$4\r\ntype\r\n$6\r\nstring\r\n*4\r\n$4\r\nname\r\n$5\r\nvalue\r\n$4\r\ntype\r\n$6\r\nstring\r\n";
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
        assert!(client.contains("$11\r\nsubcommands\r\n*36\r\n$14\r\nclient|caching\r\n"));
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
}
