#!/usr/bin/env python3
"""Regenerates docs.rs (beside this script) from a running redis-server 7.0.

It connects with a plain socket, switches to RESP3 (HELLO 3), reads
`COMMAND` (tips, key specs and the legacy key range of every command and
subcommand) and `COMMAND DOCS` (summaries, arguments, history), and writes
the table sorted by name. `CLIENT SETINFO` and `CLIENT NO-TOUCH` are not in
Redis 7.0; their entries (Redis 7.2's) are kept in EXTRA_SUBCOMMANDS below
and added after Redis's own subcommands of CLIENT; the hash field expiry commands (Redis 7.4 and 8.0's)
are kept in EXTRA_COMMANDS and sorted in with the rest.

Usage:
    redis-server --port 6399 --save '' --appendonly no &
    python3 gen_docs.py --port 6399            # rewrites docs.rs
    python3 gen_docs.py --port 6399 --check    # exits 1 if docs.rs differs

Python 3.8+, standard library only.
"""

import argparse
import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "docs.rs")

# Subcommands kevy documents that this Redis version lacks, as COMMAND DOCS
# and COMMAND of the version that has them report them.
EXTRA_SUBCOMMANDS = {
    "client": [
        {
            "name": "client|setinfo",
            "docs": {
                "summary": "Sets information specific to the client or connection.",
                "since": "7.2.0",
                "group": "connection",
                "complexity": "O(1)",
                "arguments": [
                    {
                        "name": "attr",
                        "type": "oneof",
                        "arguments": [
                            {"name": "libname", "type": "string", "token": "lib-name"},
                            {"name": "libver", "type": "string", "token": "lib-ver"},
                        ],
                    }
                ],
            },
            "info": {
                "arity": 4,
                "flags": ["noscript", "loading", "stale"],
                "acl": ["@slow", "@connection"],
                "tips": [],
                "key_specs": [],
                "legacy": (0, 0, 0),
            },
        },
        {
            "name": "client|no-touch",
            "docs": {
                "summary": "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
                "since": "7.2.0",
                "group": "connection",
                "complexity": "O(1)",
                "arguments": [
                    {
                        "name": "enabled",
                        "type": "oneof",
                        "arguments": [
                            {"name": "on", "type": "pure-token", "token": "ON"},
                            {"name": "off", "type": "pure-token", "token": "OFF"},
                        ],
                    }
                ],
            },
            "info": {
                "arity": 3,
                "flags": ["noscript", "loading", "stale"],
                "acl": ["@slow", "@connection"],
                "tips": [],
                "key_specs": [],
                "legacy": (0, 0, 0),
            },
        },
    ]
}


def _fields_block(values=False):
    """`FIELDS numfields field [field ...]` (with values: `field value …`)."""
    if values:
        items = [
            {"name": "numfields", "type": "integer"},
            {"name": "data", "type": "block", "flags": ["multiple"], "arguments": [
                {"name": "field", "type": "string"},
                {"name": "value", "type": "string"},
            ]},
        ]
    else:
        items = [
            {"name": "numfields", "type": "integer"},
            {"name": "field", "type": "string", "flags": ["multiple"]},
        ]
    return {"name": "fields", "type": "block", "token": "FIELDS", "arguments": items}


_KEY = {"name": "key", "type": "key", "key_spec_index": 0}
_CONDITION = {"name": "condition", "type": "oneof", "flags": ["optional"], "arguments": [
    {"name": n, "type": "pure-token", "token": n.upper()} for n in ("nx", "xx", "gt", "lt")
]}
_RANGE1 = (("Index", 1), ("Range", 0, 1, 0))


def _spec(flags, notes=None):
    return (notes, flags) + _RANGE1


def _expire_cmd(name, time_arg, summary):
    return {
        "docs": {
            "summary": summary, "since": "7.4.0", "group": "hash",
            "complexity": "O(N) where N is the number of specified fields",
            "arguments": [_KEY, time_arg, _CONDITION, _fields_block()],
        },
        "info": {
            "arity": -6, "flags": ["write", "denyoom", "fast"],
            "acl": ["@write", "@hash", "@fast"], "tips": [],
            "key_specs": [_spec(["RW", "update"])], "legacy": (1, 1, 1),
        },
    }


def _ttl_cmd(summary, tips=()):
    return {
        "docs": {
            "summary": summary, "since": "7.4.0", "group": "hash",
            "complexity": "O(N) where N is the number of specified fields",
            "arguments": [_KEY, _fields_block()],
        },
        "info": {
            "arity": -5, "flags": ["readonly", "fast"],
            "acl": ["@read", "@hash", "@fast"], "tips": list(tips),
            "key_specs": [_spec(["RO", "access"])], "legacy": (1, 1, 1),
        },
    }


def _expiration(last):
    """The EX | PX | EXAT | PXAT | `last` option of HGETEX and HSETEX."""
    return {"name": "expiration", "type": "oneof", "flags": ["optional"], "arguments": [
        {"name": "seconds", "type": "integer", "token": "EX"},
        {"name": "milliseconds", "type": "integer", "token": "PX"},
        {"name": "unix-time-seconds", "type": "unix-time", "token": "EXAT"},
        {"name": "unix-time-milliseconds", "type": "unix-time", "token": "PXAT"},
        {"name": last.lower(), "type": "pure-token", "token": last},
    ]}


# Commands kevy has that this Redis version lacks (hash field expiry, from
# Redis 7.4 and 8.0), as COMMAND DOCS and COMMAND of the version that has
# them report them.
EXTRA_COMMANDS = {
    "hexpire": _expire_cmd(
        "hexpire", {"name": "seconds", "type": "integer"},
        "Set expiry for hash field using relative time to expire (seconds)"),
    "hpexpire": _expire_cmd(
        "hpexpire", {"name": "milliseconds", "type": "integer"},
        "Set expiry for hash field using relative time to expire (milliseconds)"),
    "hexpireat": _expire_cmd(
        "hexpireat", {"name": "unix-time-seconds", "type": "unix-time"},
        "Set expiry for hash field using an absolute Unix timestamp (seconds)"),
    "hpexpireat": _expire_cmd(
        "hpexpireat", {"name": "unix-time-milliseconds", "type": "unix-time"},
        "Set expiry for hash field using an absolute Unix timestamp (milliseconds)"),
    "httl": _ttl_cmd("Returns the TTL in seconds of a hash field."),
    "hpttl": _ttl_cmd("Returns the TTL in milliseconds of a hash field.",
                      ["nondeterministic_output"]),
    "hexpiretime": _ttl_cmd(
        "Returns the expiration time of a hash field as a Unix timestamp, in seconds."),
    "hpexpiretime": _ttl_cmd(
        "Returns the expiration time of a hash field as a Unix timestamp, in msec."),
    "hpersist": {
        "docs": {
            "summary": "Removes the expiration time for each specified field",
            "since": "7.4.0", "group": "hash",
            "complexity": "O(N) where N is the number of specified fields",
            "arguments": [_KEY, _fields_block()],
        },
        "info": {
            "arity": -5, "flags": ["write", "fast"], "acl": ["@write", "@hash", "@fast"],
            "tips": [], "key_specs": [_spec(["RW", "update"])], "legacy": (1, 1, 1),
        },
    },
    "hgetex": {
        "docs": {
            "summary": "Get the value of one or more fields of a given hash key, and "
                       "optionally set their expiration.",
            "since": "8.0.0", "group": "hash",
            "complexity": "O(N) where N is the number of specified fields",
            "arguments": [_KEY, _expiration("PERSIST"), _fields_block()],
        },
        "info": {
            "arity": -5, "flags": ["write", "fast"], "acl": ["@write", "@hash", "@fast"],
            "tips": [],
            "key_specs": [_spec(["RW", "access", "update"],
                                "RW and UPDATE because it changes the TTL")],
            "legacy": (1, 1, 1),
        },
    },
    "hsetex": {
        "docs": {
            "summary": "Set the value of one or more fields of a given hash key, and "
                       "optionally set their expiration.",
            "since": "8.0.0", "group": "hash",
            "complexity": "O(N) where N is the number of fields being set.",
            "arguments": [
                _KEY,
                {"name": "condition", "type": "oneof", "flags": ["optional"], "arguments": [
                    {"name": "fnx", "type": "pure-token", "token": "FNX"},
                    {"name": "fxx", "type": "pure-token", "token": "FXX"},
                ]},
                _expiration("KEEPTTL"),
                _fields_block(values=True),
            ],
        },
        "info": {
            "arity": -6, "flags": ["write", "denyoom", "fast"],
            "acl": ["@write", "@hash", "@fast"], "tips": [],
            "key_specs": [_spec(["RW", "update"])], "legacy": (1, 1, 1),
        },
    },
    "hgetdel": {
        "docs": {
            "summary": "Returns the value of a field and deletes it from the hash.",
            "since": "8.0.0", "group": "hash",
            "complexity": "O(N) where N is the number of specified fields",
            "arguments": [_KEY, _fields_block()],
        },
        "info": {
            "arity": -5, "flags": ["write", "fast"], "acl": ["@write", "@hash", "@fast"],
            "tips": [], "key_specs": [_spec(["RW", "access", "delete"])], "legacy": (1, 1, 1),
        },
    },
}


# ---------------------------------------------------------------------------
# RESP client
# ---------------------------------------------------------------------------


class RespError(Exception):
    pass


class Resp:
    """A minimal RESP2/RESP3 client: maps become dicts, sets and arrays
    lists, attributes are skipped."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.f = self.sock.makefile("rb")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        reply = self.read()
        if isinstance(reply, RespError):
            raise reply
        return reply

    def line(self):
        line = self.f.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed mid-reply")
        return line[:-2]

    def read(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"("):
            return rest.decode()
        if kind in (b"-", b"!"):
            if kind == b"!":
                rest = self.f.read(int(rest) + 2)[:-2]
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b",":
            return float(rest)
        if kind == b"#":
            return rest == b"t"
        if kind == b"_":
            return None
        if kind in (b"$", b"="):
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            if kind == b"=":
                data = data[4:]
            return data.decode()
        if kind in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if kind == b"%":
            n = int(rest)
            d = {}
            for _ in range(n):
                k = self.read()
                d[k] = self.read()
            return d
        if kind == b"|":
            for _ in range(2 * int(rest)):
                self.read()
            return self.read()
        raise ValueError("unexpected RESP type byte %r" % kind)


# ---------------------------------------------------------------------------
# Reading Redis's tables
# ---------------------------------------------------------------------------


def key_spec(ks):
    """A COMMAND key spec map as (notes, flags, begin, find)."""
    bs = ks["begin_search"]
    if bs["type"] == "index":
        begin = ("Index", bs["spec"]["index"])
    elif bs["type"] == "keyword":
        begin = ("Keyword", bs["spec"]["keyword"], bs["spec"]["startfrom"])
    else:
        begin = ("Unknown",)
    fk = ks["find_keys"]
    if fk["type"] == "range":
        s = fk["spec"]
        find = ("Range", s["lastkey"], s["keystep"], s["limit"])
    elif fk["type"] == "keynum":
        s = fk["spec"]
        find = ("Keynum", s["keynumidx"], s["firstkey"], s["keystep"])
    else:
        find = ("Unknown",)
    return (ks.get("notes"), list(ks["flags"]), begin, find)


def command_info(entry):
    """The parts of one COMMAND entry that docs.rs keeps."""
    name, arity, flags, first, last, step, acl, tips, specs, subs = entry
    return {
        "name": name,
        "arity": arity,
        "flags": list(flags),
        "acl": list(acl),
        "tips": list(tips),
        "key_specs": [key_spec(ks) for ks in specs],
        "legacy": (first, last, step),
        "subcommands": {s[0]: command_info(s) for s in subs},
    }


def fetch(host, port):
    r = Resp(host, port)
    hello = r.call("HELLO", "3")
    version = hello.get("version", "?")
    info = {e[0]: command_info(e) for e in r.call("COMMAND")}
    docs = r.call("COMMAND", "DOCS")
    return version, info, docs


# ---------------------------------------------------------------------------
# Writing docs.rs
# ---------------------------------------------------------------------------


def rs(s):
    """A Rust string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def opt(s):
    return "None" if s is None else "Some(%s)" % rs(s)


def strs(items):
    return "&[" + ", ".join(rs(x) for x in items) + "]"


def arg_lines(args, indent):
    pad = " " * indent
    out = []
    for a in args:
        fields = ["name: %s" % rs(a["name"]), "kind: %s" % rs(a["type"])]
        if "key_spec_index" in a:
            fields.append("key_spec_index: Some(%d)" % a["key_spec_index"])
        for key in ("token", "since", "deprecated_since"):
            if key in a:
                fields.append("%s: Some(%s)" % (key, rs(a[key])))
        if a.get("flags"):
            fields.append("flags: %s" % strs(a["flags"]))
        nested = a.get("arguments")
        if a["type"] in ("oneof", "block"):
            out.append("%sArg { %s, args: &[" % (pad, ", ".join(fields)))
            out.extend(arg_lines(nested or [], indent + 4))
            out.append("%s], ..A }," % pad)
        else:
            out.append("%sArg { %s, ..A }," % (pad, ", ".join(fields)))
    return out


def spec_literal(spec):
    notes, flags, begin, find = spec
    if begin[0] == "Index":
        b = "Begin::Index(%d)" % begin[1]
    elif begin[0] == "Keyword":
        b = "Begin::Keyword(%s, %d)" % (rs(begin[1]), begin[2])
    else:
        b = "Begin::Unknown"
    if find[0] == "Unknown":
        f = "Find::Unknown"
    else:
        f = "Find::%s(%d, %d, %d)" % find
    return "KeySpec { notes: %s, flags: %s, begin: %s, find: %s }" % (
        opt(notes),
        strs(flags),
        b,
        f,
    )


def doc_lines(name, doc, info, subs, indent):
    """One `Doc { … }` literal; `subs` is a list of (name, doc, info)."""
    pad = " " * indent
    inner = " " * (indent + 4)
    out = ["%sDoc {" % pad]
    out.append("%sname: %s," % (inner, rs(name)))
    for key in ("summary", "since", "group"):
        out.append("%s%s: %s," % (inner, key, rs(doc.get(key, ""))))
    if "complexity" in doc:
        out.append("%scomplexity: %s," % (inner, opt(doc["complexity"])))
    if doc.get("doc_flags"):
        out.append("%sdoc_flags: %s," % (inner, strs(doc["doc_flags"])))
    for key in ("deprecated_since", "replaced_by"):
        if key in doc:
            out.append("%s%s: %s," % (inner, key, opt(doc[key])))
    if doc.get("history"):
        pairs = ", ".join("(%s, %s)" % (rs(v), rs(t)) for v, t in doc["history"])
        out.append("%shistory: &[%s]," % (inner, pairs))
    if doc.get("arguments"):
        out.append("%sargs: &[" % inner)
        out.extend(arg_lines(doc["arguments"], indent + 8))
        out.append("%s]," % inner)
    out.append(
        "%sarity: %d, flags: %s, acl: %s,"
        % (inner, info["arity"], strs(info["flags"]), strs(info["acl"]))
    )
    if info["tips"]:
        out.append("%stips: %s," % (inner, strs(info["tips"])))
    if info["key_specs"]:
        specs = ", ".join(spec_literal(s) for s in info["key_specs"])
        out.append("%skey_specs: &[%s]," % (inner, specs))
    if tuple(info["legacy"]) != (0, 0, 0):
        out.append("%slegacy: (%d, %d, %d)," % ((inner,) + tuple(info["legacy"])))
    if subs:
        out.append("%ssubcommands: &[" % inner)
        for sub_name, sub_doc, sub_info in subs:
            out.extend(doc_lines(sub_name, sub_doc, sub_info, [], indent + 8))
        out.append("%s]," % inner)
    out.append("%s..D" % inner)
    out.append("%s}," % pad)
    return out


def table_lines(info, docs):
    out = []
    for name, extra in EXTRA_COMMANDS.items():
        if name not in docs:
            docs = dict(docs, **{name: extra["docs"]})
            info = dict(info, **{name: dict(extra["info"], subcommands={})})
    for name in sorted(docs):
        doc = docs[name]
        subs = []
        for sub_name in sorted(doc.get("subcommands") or {}):
            subs.append(
                (sub_name, doc["subcommands"][sub_name], info[name]["subcommands"][sub_name])
            )
        for extra in EXTRA_SUBCOMMANDS.get(name, []):
            subs.append((extra["name"], extra["docs"], extra["info"]))
        out.extend(doc_lines(name, doc, info[name], subs, 4))
    return out


def render(info, docs):
    return HEAD + "\n".join(table_lines(info, docs)) + "\n" + TAIL


HEAD = '''\
//! Command documentation: what `COMMAND DOCS` reports, plus what
//! `COMMAND INFO` reports of every Redis command and subcommand (arity,
//! flags, ACL categories, tips, key specs). The text is Redis 7.0.15's own
//! (`CLIENT SETINFO`'s and `CLIENT NO-TOUCH`'s from Redis 7.2, hash field
//! expiry's from Redis 7.4 and 8.0), so redis-cli's hints and clients' doc
//! look-ups read what they read from Redis.
//!
//! This is documentation, not routing: a top-level command's arity, flags and
//! key positions are the command table's. COMMAND reports an entry only for
//! commands the table has, and uses `key_specs` only while the table's key
//! range still equals `legacy`, the range Redis reports; otherwise it derives
//! a spec from the table. A container's subcommands are Redis's, described
//! by the entries here (and dispatched by the container's own table).
//!
//! `DOCS` is generated by `gen_docs.py` (beside this file) from `COMMAND`
//! and `COMMAND DOCS` (RESP3) of a redis-server 7.0.15, sorted by name;
//! regenerate rather than hand-edit.

/// One command's (or subcommand's) documentation.
#[derive(Debug)]
pub struct Doc {
    /// Lowercase; `container|sub` for subcommands.
    pub name: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: Option<&'static str>,
    pub doc_flags: &'static [&'static str],
    pub deprecated_since: Option<&'static str>,
    pub replaced_by: Option<&'static str>,
    /// `(version, change)` pairs.
    pub history: &'static [(&'static str, &'static str)],
    pub args: &'static [Arg],
    /// Sorted by name.
    pub subcommands: &'static [Doc],
    /// COMMAND INFO's arity (counting the container's name for a
    /// subcommand), flags and ACL categories.
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub acl: &'static [&'static str],
    /// COMMAND INFO's tips (`nondeterministic_output`, `request_policy:…`).
    pub tips: &'static [&'static str],
    /// Redis's key specs, valid for Redis's legacy key range `legacy`.
    pub key_specs: &'static [KeySpec],
    /// Redis's `first, last, step`.
    pub legacy: (i32, i32, i32),
}

/// One argument of a command, as COMMAND DOCS describes it.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    /// `string`, `integer`, `double`, `key`, `pattern`, `unix-time`,
    /// `pure-token`, `oneof` or `block` (the last two have `args`).
    pub kind: &'static str,
    pub key_spec_index: Option<i64>,
    pub token: Option<&'static str>,
    pub since: Option<&'static str>,
    pub deprecated_since: Option<&'static str>,
    /// `optional`, `multiple`, `multiple_token`.
    pub flags: &'static [&'static str],
    pub args: &'static [Arg],
}

/// A key spec (Redis 7 "key specifications").
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: Find,
}

/// Where the search for keys begins.
#[derive(Clone, Copy, Debug)]
pub enum Begin {
    /// At this argument index.
    Index(i64),
    /// After this keyword, searching from `startfrom`.
    Keyword(&'static str, i64),
    Unknown,
}

/// How the keys are found from where the search began.
#[derive(Clone, Copy, Debug)]
pub enum Find {
    /// `lastkey, keystep, limit`.
    Range(i64, i64, i64),
    /// `keynumidx, firstkey, keystep`.
    Keynum(i64, i64, i64),
    Unknown,
}

/// The documentation of a top-level command, by lowercase name.
pub fn find(name: &str) -> Option<&'static Doc> {
    DOCS.binary_search_by(|d| d.name.cmp(name))
        .ok()
        .map(|i| &DOCS[i])
}

/// The documentation of a subcommand, by full lowercase name (`client|id`).
pub fn find_sub(parent: &'static Doc, full: &str) -> Option<&'static Doc> {
    parent.subcommands.iter().find(|d| d.name == full)
}

const D: Doc = Doc {
    name: "",
    summary: "",
    since: "",
    group: "",
    complexity: None,
    doc_flags: &[],
    deprecated_since: None,
    replaced_by: None,
    history: &[],
    args: &[],
    subcommands: &[],
    arity: 0,
    flags: &[],
    acl: &[],
    tips: &[],
    key_specs: &[],
    legacy: (0, 0, 0),
};

const A: Arg = Arg {
    name: "",
    kind: "string",
    key_spec_index: None,
    token: None,
    since: None,
    deprecated_since: None,
    flags: &[],
    args: &[],
};

#[rustfmt::skip]
static DOCS: &[Doc] = &[
'''

TAIL = '''\
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_are_sorted_for_binary_search() {
        assert!(DOCS.windows(2).all(|w| w[0].name < w[1].name));
        for d in DOCS {
            assert!(d.subcommands.iter().all(|s| s.name.starts_with(d.name)));
        }
    }

    #[test]
    fn finds_commands_and_subcommands() {
        let ping = find("ping").unwrap();
        assert_eq!(ping.summary, "Ping the server");
        assert_eq!(
            ping.tips,
            ["request_policy:all_shards", "response_policy:all_succeeded"]
        );
        assert!(find("nosuch").is_none());
        let client = find("client").unwrap();
        assert_eq!(find_sub(client, "client|setinfo").unwrap().since, "7.2.0");
        assert_eq!(find("get").unwrap().legacy, (1, 1, 1));
    }
}
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--out", default=DEFAULT_OUT, help="file to write (default: docs.rs here)")
    ap.add_argument(
        "--check", action="store_true", help="compare with --out instead of writing it"
    )
    opts = ap.parse_args()
    version, info, docs = fetch(opts.host, opts.port)
    if not version.startswith("7.0."):
        print("warning: redis-server %s is not 7.0.x; the table is 7.0's" % version,
              file=sys.stderr)
    text = render(info, docs)
    if opts.check:
        with open(opts.out, encoding="utf-8") as f:
            same = f.read() == text
        print("%s %s redis-server %s" % (opts.out, "matches" if same else "differs from", version))
        return 0 if same else 1
    with open(opts.out, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %s from redis-server %s (%d commands)" % (opts.out, version, len(docs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
