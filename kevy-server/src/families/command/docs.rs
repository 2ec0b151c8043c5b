//! Command documentation: what `COMMAND DOCS` reports, plus the parts of
//! `COMMAND INFO` that the command table does not carry (tips, key specs).
//! The text is Redis 7.0.15's own (`CLIENT SETINFO`'s from Redis 7.2), so
//! redis-cli's hints and clients' doc look-ups read what they read from Redis.
//!
//! This is documentation, not routing: arity, flags and key positions are the
//! command table's. COMMAND reports an entry only for commands the table has,
//! and uses `key_specs` only while the table's key range still equals
//! `legacy`, the range Redis reports; otherwise it derives a spec from the
//! table.
//!
//! `DOCS` is generated from `COMMAND` and `COMMAND DOCS` (RESP3) of a
//! redis-server 7.0.15 and sorted by name; regenerate rather than hand-edit.

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
#[derive(Debug)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: Find,
}

/// Where the search for keys begins.
#[derive(Debug)]
pub enum Begin {
    /// At this argument index.
    Index(i64),
    /// After this keyword, searching from `startfrom`.
    Keyword(&'static str, i64),
    Unknown,
}

/// How the keys are found from where the search began.
#[derive(Debug)]
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
    Doc {
        name: "acl",
        summary: "A container for Access List Control commands ",
        since: "6.0.0",
        group: "server",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "acl|cat",
                summary: "List the ACL categories or the commands inside a category",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(1) since the categories and commands are a fixed set."),
                args: &[
                    Arg { name: "categoryname", kind: "string", flags: &["optional"], ..A },
                ],
                ..D
            },
            Doc {
                name: "acl|deluser",
                summary: "Remove the specified ACL users and the associated rules",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(1) amortized time considering the typical user."),
                args: &[
                    Arg { name: "username", kind: "string", flags: &["multiple"], ..A },
                ],
                ..D
            },
            Doc {
                name: "acl|dryrun",
                summary: "Returns whether the user can execute the given command without executing the command.",
                since: "7.0.0",
                group: "server",
                complexity: Some("O(1)."),
                args: &[
                    Arg { name: "username", kind: "string", ..A },
                    Arg { name: "command", kind: "string", ..A },
                    Arg { name: "arg", kind: "string", flags: &["optional", "multiple"], ..A },
                ],
                ..D
            },
            Doc {
                name: "acl|genpass",
                summary: "Generate a pseudorandom secure password to use for ACL users",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "bits", kind: "integer", flags: &["optional"], ..A },
                ],
                ..D
            },
            Doc {
                name: "acl|getuser",
                summary: "Get the rules for a specific ACL user",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(N). Where N is the number of password, command and pattern rules that the user has."),
                history: &[("6.2.0", "Added Pub/Sub channel patterns."), ("7.0.0", "Added selectors and changed the format of key and channel patterns from a list to their rule representation.")],
                args: &[
                    Arg { name: "username", kind: "string", ..A },
                ],
                ..D
            },
            Doc {
                name: "acl|help",
                summary: "Show helpful text about the different subcommands",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "acl|list",
                summary: "List the current ACL rules in ACL config file format",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(N). Where N is the number of configured users."),
                ..D
            },
            Doc {
                name: "acl|load",
                summary: "Reload the ACLs from the configured ACL file",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(N). Where N is the number of configured users."),
                ..D
            },
            Doc {
                name: "acl|log",
                summary: "List latest events denied because of ACLs in place",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(N) with N being the number of entries shown."),
                args: &[
                    Arg { name: "operation", kind: "oneof", flags: &["optional"], args: &[
                        Arg { name: "count", kind: "integer", ..A },
                        Arg { name: "reset", kind: "pure-token", token: Some("RESET"), ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "acl|save",
                summary: "Save the current ACL rules in the configured ACL file",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(N). Where N is the number of configured users."),
                ..D
            },
            Doc {
                name: "acl|setuser",
                summary: "Modify or create the rules for a specific ACL user",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(N). Where N is the number of rules provided."),
                history: &[("6.2.0", "Added Pub/Sub channel patterns."), ("7.0.0", "Added selectors and key based permissions.")],
                args: &[
                    Arg { name: "username", kind: "string", ..A },
                    Arg { name: "rule", kind: "string", flags: &["optional", "multiple"], ..A },
                ],
                ..D
            },
            Doc {
                name: "acl|users",
                summary: "List the username of all the configured ACL rules",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(N). Where N is the number of configured users."),
                ..D
            },
            Doc {
                name: "acl|whoami",
                summary: "Return the name of the user associated to the current connection",
                since: "6.0.0",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "append",
        summary: "Append a value to a key",
        since: "2.0.0",
        group: "string",
        complexity: Some("O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "value", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "asking",
        summary: "Sent by cluster clients after an -ASK redirect",
        since: "3.0.0",
        group: "cluster",
        complexity: Some("O(1)"),
        ..D
    },
    Doc {
        name: "auth",
        summary: "Authenticate to the server",
        since: "1.0.0",
        group: "connection",
        complexity: Some("O(N) where N is the number of passwords defined for the user"),
        history: &[("6.0.0", "Added ACL style (username and password).")],
        args: &[
            Arg { name: "username", kind: "string", since: Some("6.0.0"), flags: &["optional"], ..A },
            Arg { name: "password", kind: "string", ..A },
        ],
        ..D
    },
    Doc {
        name: "bgrewriteaof",
        summary: "Asynchronously rewrite the append-only file",
        since: "1.0.0",
        group: "server",
        complexity: Some("O(1)"),
        ..D
    },
    Doc {
        name: "bgsave",
        summary: "Asynchronously save the dataset to disk",
        since: "1.0.0",
        group: "server",
        complexity: Some("O(1)"),
        history: &[("3.2.2", "Added the `SCHEDULE` option.")],
        args: &[
            Arg { name: "schedule", kind: "pure-token", token: Some("SCHEDULE"), since: Some("3.2.2"), flags: &["optional"], ..A },
        ],
        ..D
    },
    Doc {
        name: "bitcount",
        summary: "Count set bits in a string",
        since: "2.6.0",
        group: "bitmap",
        complexity: Some("O(N)"),
        history: &[("7.0.0", "Added the `BYTE|BIT` option.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "index", kind: "block", flags: &["optional"], args: &[
                Arg { name: "start", kind: "integer", ..A },
                Arg { name: "end", kind: "integer", ..A },
                Arg { name: "index_unit", kind: "oneof", since: Some("7.0.0"), flags: &["optional"], args: &[
                    Arg { name: "byte", kind: "pure-token", token: Some("BYTE"), ..A },
                    Arg { name: "bit", kind: "pure-token", token: Some("BIT"), ..A },
                ], ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "bitfield",
        summary: "Perform arbitrary bitfield integer operations on strings",
        since: "3.2.0",
        group: "bitmap",
        complexity: Some("O(1) for each subcommand specified"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "operation", kind: "oneof", flags: &["optional", "multiple"], args: &[
                Arg { name: "encoding_offset", kind: "block", token: Some("GET"), args: &[
                    Arg { name: "encoding", kind: "string", ..A },
                    Arg { name: "offset", kind: "integer", ..A },
                ], ..A },
                Arg { name: "write", kind: "block", args: &[
                    Arg { name: "wrap_sat_fail", kind: "oneof", token: Some("OVERFLOW"), flags: &["optional"], args: &[
                        Arg { name: "wrap", kind: "pure-token", token: Some("WRAP"), ..A },
                        Arg { name: "sat", kind: "pure-token", token: Some("SAT"), ..A },
                        Arg { name: "fail", kind: "pure-token", token: Some("FAIL"), ..A },
                    ], ..A },
                    Arg { name: "write_operation", kind: "oneof", args: &[
                        Arg { name: "encoding_offset_value", kind: "block", token: Some("SET"), args: &[
                            Arg { name: "encoding", kind: "string", ..A },
                            Arg { name: "offset", kind: "integer", ..A },
                            Arg { name: "value", kind: "integer", ..A },
                        ], ..A },
                        Arg { name: "encoding_offset_increment", kind: "block", token: Some("INCRBY"), args: &[
                            Arg { name: "encoding", kind: "string", ..A },
                            Arg { name: "offset", kind: "integer", ..A },
                            Arg { name: "increment", kind: "integer", ..A },
                        ], ..A },
                    ], ..A },
                ], ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: Some("This command allows both access and modification of the key"), flags: &["RW", "access", "update", "variable_flags"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "bitfield_ro",
        summary: "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        since: "6.0.0",
        group: "bitmap",
        complexity: Some("O(1) for each subcommand specified"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "encoding_offset", kind: "block", token: Some("GET"), flags: &["optional", "multiple", "multiple_token"], args: &[
                Arg { name: "encoding", kind: "string", ..A },
                Arg { name: "offset", kind: "integer", ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "bitop",
        summary: "Perform bitwise operations between strings",
        since: "2.6.0",
        group: "bitmap",
        complexity: Some("O(N)"),
        args: &[
            Arg { name: "operation", kind: "string", ..A },
            Arg { name: "destkey", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(1), flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(3), find: Find::Range(-1, 1, 0) }],
        legacy: (2, -1, 1),
        ..D
    },
    Doc {
        name: "bitpos",
        summary: "Find first bit set or clear in a string",
        since: "2.8.7",
        group: "bitmap",
        complexity: Some("O(N)"),
        history: &[("7.0.0", "Added the `BYTE|BIT` option.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "bit", kind: "integer", ..A },
            Arg { name: "index", kind: "block", flags: &["optional"], args: &[
                Arg { name: "start", kind: "integer", ..A },
                Arg { name: "end_index", kind: "block", flags: &["optional"], args: &[
                    Arg { name: "end", kind: "integer", ..A },
                    Arg { name: "index_unit", kind: "oneof", since: Some("7.0.0"), flags: &["optional"], args: &[
                        Arg { name: "byte", kind: "pure-token", token: Some("BYTE"), ..A },
                        Arg { name: "bit", kind: "pure-token", token: Some("BIT"), ..A },
                    ], ..A },
                ], ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "blmove",
        summary: "Pop an element from a list, push it to another list and return it; or block until one is available",
        since: "6.2.0",
        group: "list",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "source", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "destination", kind: "key", key_spec_index: Some(1), ..A },
            Arg { name: "wherefrom", kind: "oneof", args: &[
                Arg { name: "left", kind: "pure-token", token: Some("LEFT"), ..A },
                Arg { name: "right", kind: "pure-token", token: Some("RIGHT"), ..A },
            ], ..A },
            Arg { name: "whereto", kind: "oneof", args: &[
                Arg { name: "left", kind: "pure-token", token: Some("LEFT"), ..A },
                Arg { name: "right", kind: "pure-token", token: Some("RIGHT"), ..A },
            ], ..A },
            Arg { name: "timeout", kind: "double", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "blmpop",
        summary: "Pop elements from a list, or block until one is available",
        since: "7.0.0",
        group: "list",
        complexity: Some("O(N+M) where N is the number of provided keys and M is the number of elements returned."),
        args: &[
            Arg { name: "timeout", kind: "double", ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "where", kind: "oneof", args: &[
                Arg { name: "left", kind: "pure-token", token: Some("LEFT"), ..A },
                Arg { name: "right", kind: "pure-token", token: Some("RIGHT"), ..A },
            ], ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "blpop",
        summary: "Remove and get the first element in a list, or block until one is available",
        since: "2.0.0",
        group: "list",
        complexity: Some("O(N) where N is the number of provided keys."),
        history: &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "timeout", kind: "double", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(-2, 1, 0) }],
        legacy: (1, -2, 1),
        ..D
    },
    Doc {
        name: "brpop",
        summary: "Remove and get the last element in a list, or block until one is available",
        since: "2.0.0",
        group: "list",
        complexity: Some("O(N) where N is the number of provided keys."),
        history: &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "timeout", kind: "double", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(-2, 1, 0) }],
        legacy: (1, -2, 1),
        ..D
    },
    Doc {
        name: "brpoplpush",
        summary: "Pop an element from a list, push it to another list and return it; or block until one is available",
        since: "2.2.0",
        group: "list",
        complexity: Some("O(1)"),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`BLMOVE` with the `RIGHT` and `LEFT` arguments"),
        history: &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")],
        args: &[
            Arg { name: "source", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "destination", kind: "key", key_spec_index: Some(1), ..A },
            Arg { name: "timeout", kind: "double", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "bzmpop",
        summary: "Remove and return members with scores in a sorted set or block until one is available",
        since: "7.0.0",
        group: "sorted-set",
        complexity: Some("O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."),
        args: &[
            Arg { name: "timeout", kind: "double", ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "where", kind: "oneof", args: &[
                Arg { name: "min", kind: "pure-token", token: Some("MIN"), ..A },
                Arg { name: "max", kind: "pure-token", token: Some("MAX"), ..A },
            ], ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "bzpopmax",
        summary: "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
        since: "5.0.0",
        group: "sorted-set",
        complexity: Some("O(log(N)) with N being the number of elements in the sorted set."),
        history: &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "timeout", kind: "double", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(-2, 1, 0) }],
        legacy: (1, -2, 1),
        ..D
    },
    Doc {
        name: "bzpopmin",
        summary: "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
        since: "5.0.0",
        group: "sorted-set",
        complexity: Some("O(log(N)) with N being the number of elements in the sorted set."),
        history: &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "timeout", kind: "double", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(-2, 1, 0) }],
        legacy: (1, -2, 1),
        ..D
    },
    Doc {
        name: "client",
        summary: "A container for client connection commands",
        since: "2.4.0",
        group: "connection",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "client|caching",
                summary: "Instruct the server about tracking or not keys in the next request",
                since: "6.0.0",
                group: "connection",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "mode", kind: "oneof", args: &[
                        Arg { name: "yes", kind: "pure-token", token: Some("YES"), ..A },
                        Arg { name: "no", kind: "pure-token", token: Some("NO"), ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "client|getname",
                summary: "Get the current connection name",
                since: "2.6.9",
                group: "connection",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "client|getredir",
                summary: "Get tracking notifications redirection client ID if any",
                since: "6.0.0",
                group: "connection",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "client|help",
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                group: "connection",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "client|id",
                summary: "Returns the client ID for the current connection",
                since: "5.0.0",
                group: "connection",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "client|info",
                summary: "Returns information about the current client connection.",
                since: "6.2.0",
                group: "connection",
                complexity: Some("O(1)"),
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "client|kill",
                summary: "Kill the connection of a client",
                since: "2.4.0",
                group: "connection",
                complexity: Some("O(N) where N is the number of client connections"),
                history: &[("2.8.12", "Added new filter format."), ("2.8.12", "`ID` option."), ("3.2.0", "Added `master` type in for `TYPE` option."), ("5.0.0", "Replaced `slave` `TYPE` with `replica`. `slave` still supported for backward compatibility."), ("6.2.0", "`LADDR` option.")],
                args: &[
                    Arg { name: "filter", kind: "oneof", args: &[
                        Arg { name: "ip:port", kind: "string", deprecated_since: Some("2.8.12"), ..A },
                        Arg { name: "new-format", kind: "oneof", flags: &["multiple"], args: &[
                            Arg { name: "client-id", kind: "integer", token: Some("ID"), since: Some("2.8.12"), flags: &["optional"], ..A },
                            Arg { name: "normal_master_slave_pubsub", kind: "oneof", token: Some("TYPE"), since: Some("2.8.12"), flags: &["optional"], args: &[
                                Arg { name: "normal", kind: "pure-token", token: Some("NORMAL"), ..A },
                                Arg { name: "master", kind: "pure-token", token: Some("MASTER"), since: Some("3.2.0"), ..A },
                                Arg { name: "slave", kind: "pure-token", token: Some("SLAVE"), ..A },
                                Arg { name: "replica", kind: "pure-token", token: Some("REPLICA"), since: Some("5.0.0"), ..A },
                                Arg { name: "pubsub", kind: "pure-token", token: Some("PUBSUB"), ..A },
                            ], ..A },
                            Arg { name: "username", kind: "string", token: Some("USER"), flags: &["optional"], ..A },
                            Arg { name: "ip:port", kind: "string", token: Some("ADDR"), flags: &["optional"], ..A },
                            Arg { name: "ip:port", kind: "string", token: Some("LADDR"), since: Some("6.2.0"), flags: &["optional"], ..A },
                            Arg { name: "yes/no", kind: "string", token: Some("SKIPME"), flags: &["optional"], ..A },
                        ], ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "client|list",
                summary: "Get the list of client connections",
                since: "2.4.0",
                group: "connection",
                complexity: Some("O(N) where N is the number of client connections"),
                history: &[("2.8.12", "Added unique client `id` field."), ("5.0.0", "Added optional `TYPE` filter."), ("6.0.0", "Added `user` field."), ("6.2.0", "Added `argv-mem`, `tot-mem`, `laddr` and `redir` fields and the optional `ID` filter."), ("7.0.0", "Added `resp`, `multi-mem`, `rbs` and `rbp` fields."), ("7.0.3", "Added `ssub` field.")],
                args: &[
                    Arg { name: "normal_master_replica_pubsub", kind: "oneof", token: Some("TYPE"), since: Some("5.0.0"), flags: &["optional"], args: &[
                        Arg { name: "normal", kind: "pure-token", token: Some("NORMAL"), ..A },
                        Arg { name: "master", kind: "pure-token", token: Some("MASTER"), ..A },
                        Arg { name: "replica", kind: "pure-token", token: Some("REPLICA"), ..A },
                        Arg { name: "pubsub", kind: "pure-token", token: Some("PUBSUB"), ..A },
                    ], ..A },
                    Arg { name: "id", kind: "block", token: Some("ID"), since: Some("6.2.0"), flags: &["optional"], args: &[
                        Arg { name: "client-id", kind: "integer", flags: &["multiple"], ..A },
                    ], ..A },
                ],
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "client|no-evict",
                summary: "Set client eviction mode for the current connection",
                since: "7.0.0",
                group: "connection",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "enabled", kind: "oneof", args: &[
                        Arg { name: "on", kind: "pure-token", token: Some("ON"), ..A },
                        Arg { name: "off", kind: "pure-token", token: Some("OFF"), ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "client|pause",
                summary: "Stop processing commands from clients for some time",
                since: "2.9.50",
                group: "connection",
                complexity: Some("O(1)"),
                history: &[("6.2.0", "`CLIENT PAUSE WRITE` mode added along with the `mode` option.")],
                args: &[
                    Arg { name: "timeout", kind: "integer", ..A },
                    Arg { name: "mode", kind: "oneof", since: Some("6.2.0"), flags: &["optional"], args: &[
                        Arg { name: "write", kind: "pure-token", token: Some("WRITE"), ..A },
                        Arg { name: "all", kind: "pure-token", token: Some("ALL"), ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "client|reply",
                summary: "Instruct the server whether to reply to commands",
                since: "3.2.0",
                group: "connection",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "on_off_skip", kind: "oneof", args: &[
                        Arg { name: "on", kind: "pure-token", token: Some("ON"), ..A },
                        Arg { name: "off", kind: "pure-token", token: Some("OFF"), ..A },
                        Arg { name: "skip", kind: "pure-token", token: Some("SKIP"), ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "client|setname",
                summary: "Set the current connection name",
                since: "2.6.9",
                group: "connection",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "connection-name", kind: "string", ..A },
                ],
                ..D
            },
            Doc {
                name: "client|tracking",
                summary: "Enable or disable server assisted client side caching support",
                since: "6.0.0",
                group: "connection",
                complexity: Some("O(1). Some options may introduce additional complexity."),
                args: &[
                    Arg { name: "status", kind: "oneof", args: &[
                        Arg { name: "on", kind: "pure-token", token: Some("ON"), ..A },
                        Arg { name: "off", kind: "pure-token", token: Some("OFF"), ..A },
                    ], ..A },
                    Arg { name: "client-id", kind: "integer", token: Some("REDIRECT"), flags: &["optional"], ..A },
                    Arg { name: "prefix", kind: "string", token: Some("PREFIX"), flags: &["optional", "multiple", "multiple_token"], ..A },
                    Arg { name: "bcast", kind: "pure-token", token: Some("BCAST"), flags: &["optional"], ..A },
                    Arg { name: "optin", kind: "pure-token", token: Some("OPTIN"), flags: &["optional"], ..A },
                    Arg { name: "optout", kind: "pure-token", token: Some("OPTOUT"), flags: &["optional"], ..A },
                    Arg { name: "noloop", kind: "pure-token", token: Some("NOLOOP"), flags: &["optional"], ..A },
                ],
                ..D
            },
            Doc {
                name: "client|trackinginfo",
                summary: "Return information about server assisted client side caching for the current connection",
                since: "6.2.0",
                group: "connection",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "client|unblock",
                summary: "Unblock a client blocked in a blocking command from a different connection",
                since: "5.0.0",
                group: "connection",
                complexity: Some("O(log N) where N is the number of client connections"),
                args: &[
                    Arg { name: "client-id", kind: "integer", ..A },
                    Arg { name: "timeout_error", kind: "oneof", flags: &["optional"], args: &[
                        Arg { name: "timeout", kind: "pure-token", token: Some("TIMEOUT"), ..A },
                        Arg { name: "error", kind: "pure-token", token: Some("ERROR"), ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "client|unpause",
                summary: "Resume processing of clients that were paused",
                since: "6.2.0",
                group: "connection",
                complexity: Some("O(N) Where N is the number of paused clients"),
                ..D
            },
            Doc {
                name: "client|setinfo",
                summary: "Sets information specific to the client or connection.",
                since: "7.2.0",
                group: "connection",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "attr", kind: "oneof", args: &[
                        Arg { name: "libname", kind: "string", token: Some("lib-name"), ..A },
                        Arg { name: "libver", kind: "string", token: Some("lib-ver"), ..A },
                    ], ..A },
                ],
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "cluster",
        summary: "A container for cluster commands",
        since: "3.0.0",
        group: "cluster",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "cluster|addslots",
                summary: "Assign new hash slots to receiving node",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the total number of hash slot arguments"),
                args: &[
                    Arg { name: "slot", kind: "integer", flags: &["multiple"], ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|addslotsrange",
                summary: "Assign new hash slots to receiving node",
                since: "7.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the total number of the slots between the start slot and end slot arguments."),
                args: &[
                    Arg { name: "start-slot_end-slot", kind: "block", flags: &["multiple"], args: &[
                        Arg { name: "start-slot", kind: "integer", ..A },
                        Arg { name: "end-slot", kind: "integer", ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|bumpepoch",
                summary: "Advance the cluster config epoch",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "cluster|count-failure-reports",
                summary: "Return the number of failure reports active for a given node",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the number of failure reports"),
                args: &[
                    Arg { name: "node-id", kind: "string", ..A },
                ],
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "cluster|countkeysinslot",
                summary: "Return the number of local keys in the specified hash slot",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "slot", kind: "integer", ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|delslots",
                summary: "Set hash slots as unbound in receiving node",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the total number of hash slot arguments"),
                args: &[
                    Arg { name: "slot", kind: "integer", flags: &["multiple"], ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|delslotsrange",
                summary: "Set hash slots as unbound in receiving node",
                since: "7.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the total number of the slots between the start slot and end slot arguments."),
                args: &[
                    Arg { name: "start-slot_end-slot", kind: "block", flags: &["multiple"], args: &[
                        Arg { name: "start-slot", kind: "integer", ..A },
                        Arg { name: "end-slot", kind: "integer", ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|failover",
                summary: "Forces a replica to perform a manual failover of its master.",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "options", kind: "oneof", flags: &["optional"], args: &[
                        Arg { name: "force", kind: "pure-token", token: Some("FORCE"), ..A },
                        Arg { name: "takeover", kind: "pure-token", token: Some("TAKEOVER"), ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|flushslots",
                summary: "Delete a node's own slots information",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "cluster|forget",
                summary: "Remove a node from the nodes table",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "node-id", kind: "string", ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|getkeysinslot",
                summary: "Return local key names in the specified hash slot",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(log(N)) where N is the number of requested keys"),
                args: &[
                    Arg { name: "slot", kind: "integer", ..A },
                    Arg { name: "count", kind: "integer", ..A },
                ],
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "cluster|help",
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "cluster|info",
                summary: "Provides info about Redis Cluster node state",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "cluster|keyslot",
                summary: "Returns the hash slot of the specified key",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the number of bytes in the key"),
                args: &[
                    Arg { name: "key", kind: "string", ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|links",
                summary: "Returns a list of all TCP links to and from peer nodes in cluster",
                since: "7.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the total number of Cluster nodes"),
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "cluster|meet",
                summary: "Force a node cluster to handshake with another node",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                history: &[("4.0.0", "Added the optional `cluster_bus_port` argument.")],
                args: &[
                    Arg { name: "ip", kind: "string", ..A },
                    Arg { name: "port", kind: "integer", ..A },
                    Arg { name: "cluster_bus_port", kind: "integer", since: Some("4.0.0"), flags: &["optional"], ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|myid",
                summary: "Return the node id",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "cluster|nodes",
                summary: "Get Cluster config for the node",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the total number of Cluster nodes"),
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "cluster|replicas",
                summary: "List replica nodes of the specified master node",
                since: "5.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "node-id", kind: "string", ..A },
                ],
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "cluster|replicate",
                summary: "Reconfigure a node as a replica of the specified master node",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "node-id", kind: "string", ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|reset",
                summary: "Reset a Redis Cluster node",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the number of known nodes. The command may execute a FLUSHALL as a side effect."),
                args: &[
                    Arg { name: "hard_soft", kind: "oneof", flags: &["optional"], args: &[
                        Arg { name: "hard", kind: "pure-token", token: Some("HARD"), ..A },
                        Arg { name: "soft", kind: "pure-token", token: Some("SOFT"), ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|saveconfig",
                summary: "Forces the node to save cluster state on disk",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "cluster|set-config-epoch",
                summary: "Set the configuration epoch in a new node",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "config-epoch", kind: "integer", ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|setslot",
                summary: "Bind a hash slot to a specific node",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "slot", kind: "integer", ..A },
                    Arg { name: "subcommand", kind: "oneof", args: &[
                        Arg { name: "node-id", kind: "string", token: Some("IMPORTING"), ..A },
                        Arg { name: "node-id", kind: "string", token: Some("MIGRATING"), ..A },
                        Arg { name: "node-id", kind: "string", token: Some("NODE"), ..A },
                        Arg { name: "stable", kind: "pure-token", token: Some("STABLE"), ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "cluster|shards",
                summary: "Get array of cluster slots to node mappings",
                since: "7.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the total number of cluster nodes"),
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "cluster|slaves",
                summary: "List replica nodes of the specified master node",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(1)"),
                doc_flags: &["deprecated"],
                deprecated_since: Some("5.0.0"),
                replaced_by: Some("`CLUSTER REPLICAS`"),
                args: &[
                    Arg { name: "node-id", kind: "string", ..A },
                ],
                tips: &["nondeterministic_output"],
                ..D
            },
            Doc {
                name: "cluster|slots",
                summary: "Get array of Cluster slot to node mappings",
                since: "3.0.0",
                group: "cluster",
                complexity: Some("O(N) where N is the total number of Cluster nodes"),
                doc_flags: &["deprecated"],
                deprecated_since: Some("7.0.0"),
                replaced_by: Some("`CLUSTER SHARDS`"),
                history: &[("4.0.0", "Added node IDs."), ("7.0.0", "Added additional networking metadata field.")],
                tips: &["nondeterministic_output"],
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "command",
        summary: "Get array of Redis command details",
        since: "2.8.13",
        group: "server",
        complexity: Some("O(N) where N is the total number of Redis commands"),
        tips: &["nondeterministic_output_order"],
        subcommands: &[
            Doc {
                name: "command|count",
                summary: "Get total number of Redis commands",
                since: "2.8.13",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "command|docs",
                summary: "Get array of specific Redis command documentation",
                since: "7.0.0",
                group: "server",
                complexity: Some("O(N) where N is the number of commands to look up"),
                args: &[
                    Arg { name: "command-name", kind: "string", flags: &["optional", "multiple"], ..A },
                ],
                tips: &["nondeterministic_output_order"],
                ..D
            },
            Doc {
                name: "command|getkeys",
                summary: "Extract keys given a full Redis command",
                since: "2.8.13",
                group: "server",
                complexity: Some("O(N) where N is the number of arguments to the command"),
                ..D
            },
            Doc {
                name: "command|getkeysandflags",
                summary: "Extract keys and access flags given a full Redis command",
                since: "7.0.0",
                group: "server",
                complexity: Some("O(N) where N is the number of arguments to the command"),
                ..D
            },
            Doc {
                name: "command|help",
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "command|info",
                summary: "Get array of specific Redis command details, or all when no argument is given.",
                since: "2.8.13",
                group: "server",
                complexity: Some("O(N) where N is the number of commands to look up"),
                history: &[("7.0.0", "Allowed to be called with no argument to get info on all commands.")],
                args: &[
                    Arg { name: "command-name", kind: "string", flags: &["optional", "multiple"], ..A },
                ],
                tips: &["nondeterministic_output_order"],
                ..D
            },
            Doc {
                name: "command|list",
                summary: "Get an array of Redis command names",
                since: "7.0.0",
                group: "server",
                complexity: Some("O(N) where N is the total number of Redis commands"),
                args: &[
                    Arg { name: "filterby", kind: "oneof", token: Some("FILTERBY"), flags: &["optional"], args: &[
                        Arg { name: "module-name", kind: "string", token: Some("MODULE"), ..A },
                        Arg { name: "category", kind: "string", token: Some("ACLCAT"), ..A },
                        Arg { name: "pattern", kind: "pattern", token: Some("PATTERN"), ..A },
                    ], ..A },
                ],
                tips: &["nondeterministic_output_order"],
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "config",
        summary: "A container for server configuration commands",
        since: "2.0.0",
        group: "server",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "config|get",
                summary: "Get the values of configuration parameters",
                since: "2.0.0",
                group: "server",
                complexity: Some("O(N) when N is the number of configuration parameters provided"),
                history: &[("7.0.0", "Added the ability to pass multiple pattern parameters in one call")],
                args: &[
                    Arg { name: "parameter", kind: "block", flags: &["multiple"], args: &[
                        Arg { name: "parameter", kind: "string", ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "config|help",
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "config|resetstat",
                summary: "Reset the stats returned by INFO",
                since: "2.0.0",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "config|rewrite",
                summary: "Rewrite the configuration file with the in memory configuration",
                since: "2.8.0",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "config|set",
                summary: "Set configuration parameters to the given values",
                since: "2.0.0",
                group: "server",
                complexity: Some("O(N) when N is the number of configuration parameters provided"),
                history: &[("7.0.0", "Added the ability to set multiple parameters in one call.")],
                args: &[
                    Arg { name: "parameter_value", kind: "block", flags: &["multiple"], args: &[
                        Arg { name: "parameter", kind: "string", ..A },
                        Arg { name: "value", kind: "string", ..A },
                    ], ..A },
                ],
                tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "copy",
        summary: "Copy a key",
        since: "6.2.0",
        group: "generic",
        complexity: Some("O(N) worst case for collections, where N is the number of nested items. O(1) for string values."),
        args: &[
            Arg { name: "source", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "destination", kind: "key", key_spec_index: Some(1), ..A },
            Arg { name: "destination-db", kind: "integer", token: Some("DB"), flags: &["optional"], ..A },
            Arg { name: "replace", kind: "pure-token", token: Some("REPLACE"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "dbsize",
        summary: "Return the number of keys in the selected database",
        since: "1.0.0",
        group: "server",
        complexity: Some("O(1)"),
        tips: &["request_policy:all_shards", "response_policy:agg_sum"],
        ..D
    },
    Doc {
        name: "debug",
        summary: "A container for debugging commands",
        since: "1.0.0",
        group: "server",
        complexity: Some("Depends on subcommand."),
        doc_flags: &["syscmd"],
        ..D
    },
    Doc {
        name: "decr",
        summary: "Decrement the integer value of a key by one",
        since: "1.0.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "decrby",
        summary: "Decrement the integer value of a key by the given number",
        since: "1.0.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "decrement", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "del",
        summary: "Delete a key",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1)."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
        ],
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        key_specs: &[KeySpec { notes: None, flags: &["RM", "delete"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "discard",
        summary: "Discard all commands issued after MULTI",
        since: "2.0.0",
        group: "transactions",
        complexity: Some("O(N), when N is the number of queued commands"),
        ..D
    },
    Doc {
        name: "dump",
        summary: "Return a serialized version of the value stored at the specified key.",
        since: "2.6.0",
        group: "generic",
        complexity: Some("O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1)."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "echo",
        summary: "Echo the given string",
        since: "1.0.0",
        group: "connection",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "message", kind: "string", ..A },
        ],
        ..D
    },
    Doc {
        name: "eval",
        summary: "Execute a Lua script server side",
        since: "2.6.0",
        group: "scripting",
        complexity: Some("Depends on the script that is executed."),
        args: &[
            Arg { name: "script", kind: "string", ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["optional", "multiple"], ..A },
            Arg { name: "arg", kind: "string", flags: &["optional", "multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: Some("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE"), flags: &["RW", "access", "update"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "eval_ro",
        summary: "Execute a read-only Lua script server side",
        since: "7.0.0",
        group: "scripting",
        complexity: Some("Depends on the script that is executed."),
        args: &[
            Arg { name: "script", kind: "string", ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["optional", "multiple"], ..A },
            Arg { name: "arg", kind: "string", flags: &["optional", "multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: Some("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS"), flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "evalsha",
        summary: "Execute a Lua script server side",
        since: "2.6.0",
        group: "scripting",
        complexity: Some("Depends on the script that is executed."),
        args: &[
            Arg { name: "sha1", kind: "string", ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["optional", "multiple"], ..A },
            Arg { name: "arg", kind: "string", flags: &["optional", "multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "evalsha_ro",
        summary: "Execute a read-only Lua script server side",
        since: "7.0.0",
        group: "scripting",
        complexity: Some("Depends on the script that is executed."),
        args: &[
            Arg { name: "sha1", kind: "string", ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["optional", "multiple"], ..A },
            Arg { name: "arg", kind: "string", flags: &["optional", "multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "exec",
        summary: "Execute all commands issued after MULTI",
        since: "1.2.0",
        group: "transactions",
        complexity: Some("Depends on commands in the transaction"),
        ..D
    },
    Doc {
        name: "exists",
        summary: "Determine if a key exists",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(N) where N is the number of keys to check."),
        history: &[("3.0.3", "Accepts multiple `key` arguments.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
        ],
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "expire",
        summary: "Set a key's time to live in seconds",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(1)"),
        history: &[("7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "seconds", kind: "integer", ..A },
            Arg { name: "condition", kind: "oneof", since: Some("7.0.0"), flags: &["optional"], args: &[
                Arg { name: "nx", kind: "pure-token", token: Some("NX"), ..A },
                Arg { name: "xx", kind: "pure-token", token: Some("XX"), ..A },
                Arg { name: "gt", kind: "pure-token", token: Some("GT"), ..A },
                Arg { name: "lt", kind: "pure-token", token: Some("LT"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "expireat",
        summary: "Set the expiration for a key as a UNIX timestamp",
        since: "1.2.0",
        group: "generic",
        complexity: Some("O(1)"),
        history: &[("7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "unix-time-seconds", kind: "unix-time", ..A },
            Arg { name: "condition", kind: "oneof", since: Some("7.0.0"), flags: &["optional"], args: &[
                Arg { name: "nx", kind: "pure-token", token: Some("NX"), ..A },
                Arg { name: "xx", kind: "pure-token", token: Some("XX"), ..A },
                Arg { name: "gt", kind: "pure-token", token: Some("GT"), ..A },
                Arg { name: "lt", kind: "pure-token", token: Some("LT"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "expiretime",
        summary: "Get the expiration Unix timestamp for a key",
        since: "7.0.0",
        group: "generic",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "failover",
        summary: "Start a coordinated failover between this server and one of its replicas.",
        since: "6.2.0",
        group: "server",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "target", kind: "block", token: Some("TO"), flags: &["optional"], args: &[
                Arg { name: "host", kind: "string", ..A },
                Arg { name: "port", kind: "integer", ..A },
                Arg { name: "force", kind: "pure-token", token: Some("FORCE"), flags: &["optional"], ..A },
            ], ..A },
            Arg { name: "abort", kind: "pure-token", token: Some("ABORT"), flags: &["optional"], ..A },
            Arg { name: "milliseconds", kind: "integer", token: Some("TIMEOUT"), flags: &["optional"], ..A },
        ],
        ..D
    },
    Doc {
        name: "fcall",
        summary: "Invoke a function",
        since: "7.0.0",
        group: "scripting",
        complexity: Some("Depends on the function that is executed."),
        args: &[
            Arg { name: "function", kind: "string", ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["optional", "multiple"], ..A },
            Arg { name: "arg", kind: "string", flags: &["optional", "multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: Some("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE"), flags: &["RW", "access", "update"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "fcall_ro",
        summary: "Invoke a read-only function",
        since: "7.0.0",
        group: "scripting",
        complexity: Some("Depends on the function that is executed."),
        args: &[
            Arg { name: "function", kind: "string", ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["optional", "multiple"], ..A },
            Arg { name: "arg", kind: "string", flags: &["optional", "multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: Some("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS"), flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "flushall",
        summary: "Remove all keys from all databases",
        since: "1.0.0",
        group: "server",
        complexity: Some("O(N) where N is the total number of keys in all databases"),
        history: &[("4.0.0", "Added the `ASYNC` flushing mode modifier."), ("6.2.0", "Added the `SYNC` flushing mode modifier.")],
        args: &[
            Arg { name: "async", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "async", kind: "pure-token", token: Some("ASYNC"), since: Some("4.0.0"), ..A },
                Arg { name: "sync", kind: "pure-token", token: Some("SYNC"), since: Some("6.2.0"), ..A },
            ], ..A },
        ],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        ..D
    },
    Doc {
        name: "flushdb",
        summary: "Remove all keys from the current database",
        since: "1.0.0",
        group: "server",
        complexity: Some("O(N) where N is the number of keys in the selected database"),
        history: &[("4.0.0", "Added the `ASYNC` flushing mode modifier."), ("6.2.0", "Added the `SYNC` flushing mode modifier.")],
        args: &[
            Arg { name: "async", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "async", kind: "pure-token", token: Some("ASYNC"), since: Some("4.0.0"), ..A },
                Arg { name: "sync", kind: "pure-token", token: Some("SYNC"), since: Some("6.2.0"), ..A },
            ], ..A },
        ],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        ..D
    },
    Doc {
        name: "function",
        summary: "A container for function commands",
        since: "7.0.0",
        group: "scripting",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "function|delete",
                summary: "Delete a function by name",
                since: "7.0.0",
                group: "scripting",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "library-name", kind: "string", ..A },
                ],
                tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
                ..D
            },
            Doc {
                name: "function|dump",
                summary: "Dump all functions into a serialized binary payload",
                since: "7.0.0",
                group: "scripting",
                complexity: Some("O(N) where N is the number of functions"),
                ..D
            },
            Doc {
                name: "function|flush",
                summary: "Deleting all functions",
                since: "7.0.0",
                group: "scripting",
                complexity: Some("O(N) where N is the number of functions deleted"),
                args: &[
                    Arg { name: "async", kind: "oneof", flags: &["optional"], args: &[
                        Arg { name: "async", kind: "pure-token", token: Some("ASYNC"), ..A },
                        Arg { name: "sync", kind: "pure-token", token: Some("SYNC"), ..A },
                    ], ..A },
                ],
                tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
                ..D
            },
            Doc {
                name: "function|help",
                summary: "Show helpful text about the different subcommands",
                since: "7.0.0",
                group: "scripting",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "function|kill",
                summary: "Kill the function currently in execution.",
                since: "7.0.0",
                group: "scripting",
                complexity: Some("O(1)"),
                tips: &["request_policy:all_shards", "response_policy:one_succeeded"],
                ..D
            },
            Doc {
                name: "function|list",
                summary: "List information about all the functions",
                since: "7.0.0",
                group: "scripting",
                complexity: Some("O(N) where N is the number of functions"),
                args: &[
                    Arg { name: "library-name-pattern", kind: "string", token: Some("LIBRARYNAME"), flags: &["optional"], ..A },
                    Arg { name: "withcode", kind: "pure-token", token: Some("WITHCODE"), flags: &["optional"], ..A },
                ],
                tips: &["nondeterministic_output_order"],
                ..D
            },
            Doc {
                name: "function|load",
                summary: "Create a function with the given arguments (name, code, description)",
                since: "7.0.0",
                group: "scripting",
                complexity: Some("O(1) (considering compilation time is redundant)"),
                args: &[
                    Arg { name: "replace", kind: "pure-token", token: Some("REPLACE"), flags: &["optional"], ..A },
                    Arg { name: "function-code", kind: "string", ..A },
                ],
                tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
                ..D
            },
            Doc {
                name: "function|restore",
                summary: "Restore all the functions on the given payload",
                since: "7.0.0",
                group: "scripting",
                complexity: Some("O(N) where N is the number of functions on the payload"),
                args: &[
                    Arg { name: "serialized-value", kind: "string", ..A },
                    Arg { name: "policy", kind: "oneof", flags: &["optional"], args: &[
                        Arg { name: "flush", kind: "pure-token", token: Some("FLUSH"), ..A },
                        Arg { name: "append", kind: "pure-token", token: Some("APPEND"), ..A },
                        Arg { name: "replace", kind: "pure-token", token: Some("REPLACE"), ..A },
                    ], ..A },
                ],
                tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
                ..D
            },
            Doc {
                name: "function|stats",
                summary: "Return information about the function currently running (name, description, duration)",
                since: "7.0.0",
                group: "scripting",
                complexity: Some("O(1)"),
                tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "geoadd",
        summary: "Add one or more geospatial items in the geospatial index represented using a sorted set",
        since: "3.2.0",
        group: "geo",
        complexity: Some("O(log(N)) for each item added, where N is the number of elements in the sorted set."),
        history: &[("6.2.0", "Added the `CH`, `NX` and `XX` options.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "condition", kind: "oneof", since: Some("6.2.0"), flags: &["optional"], args: &[
                Arg { name: "nx", kind: "pure-token", token: Some("NX"), ..A },
                Arg { name: "xx", kind: "pure-token", token: Some("XX"), ..A },
            ], ..A },
            Arg { name: "change", kind: "pure-token", token: Some("CH"), since: Some("6.2.0"), flags: &["optional"], ..A },
            Arg { name: "longitude_latitude_member", kind: "block", flags: &["multiple"], args: &[
                Arg { name: "longitude", kind: "double", ..A },
                Arg { name: "latitude", kind: "double", ..A },
                Arg { name: "member", kind: "string", ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "geodist",
        summary: "Returns the distance between two members of a geospatial index",
        since: "3.2.0",
        group: "geo",
        complexity: Some("O(log(N))"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member1", kind: "string", ..A },
            Arg { name: "member2", kind: "string", ..A },
            Arg { name: "unit", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "m", kind: "pure-token", token: Some("M"), ..A },
                Arg { name: "km", kind: "pure-token", token: Some("KM"), ..A },
                Arg { name: "ft", kind: "pure-token", token: Some("FT"), ..A },
                Arg { name: "mi", kind: "pure-token", token: Some("MI"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "geohash",
        summary: "Returns members of a geospatial index as standard geohash strings",
        since: "3.2.0",
        group: "geo",
        complexity: Some("O(log(N)) for each member requested, where N is the number of elements in the sorted set."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "geopos",
        summary: "Returns longitude and latitude of members of a geospatial index",
        since: "3.2.0",
        group: "geo",
        complexity: Some("O(N) where N is the number of members requested."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "georadius",
        summary: "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point",
        since: "3.2.0",
        group: "geo",
        complexity: Some("O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`GEOSEARCH` and `GEOSEARCHSTORE` with the `BYRADIUS` argument"),
        history: &[("6.2.0", "Added the `ANY` option for `COUNT`."), ("7.0.0", "Added support for uppercase unit names.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "longitude", kind: "double", ..A },
            Arg { name: "latitude", kind: "double", ..A },
            Arg { name: "radius", kind: "double", ..A },
            Arg { name: "unit", kind: "oneof", args: &[
                Arg { name: "m", kind: "pure-token", token: Some("M"), ..A },
                Arg { name: "km", kind: "pure-token", token: Some("KM"), ..A },
                Arg { name: "ft", kind: "pure-token", token: Some("FT"), ..A },
                Arg { name: "mi", kind: "pure-token", token: Some("MI"), ..A },
            ], ..A },
            Arg { name: "withcoord", kind: "pure-token", token: Some("WITHCOORD"), flags: &["optional"], ..A },
            Arg { name: "withdist", kind: "pure-token", token: Some("WITHDIST"), flags: &["optional"], ..A },
            Arg { name: "withhash", kind: "pure-token", token: Some("WITHHASH"), flags: &["optional"], ..A },
            Arg { name: "count", kind: "block", flags: &["optional"], args: &[
                Arg { name: "count", kind: "integer", token: Some("COUNT"), ..A },
                Arg { name: "any", kind: "pure-token", token: Some("ANY"), since: Some("6.2.0"), flags: &["optional"], ..A },
            ], ..A },
            Arg { name: "order", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "asc", kind: "pure-token", token: Some("ASC"), ..A },
                Arg { name: "desc", kind: "pure-token", token: Some("DESC"), ..A },
            ], ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(1), token: Some("STORE"), flags: &["optional"], ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(2), token: Some("STOREDIST"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Keyword("STORE", 6), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Keyword("STOREDIST", 6), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "georadius_ro",
        summary: "A read-only variant for GEORADIUS",
        since: "3.2.10",
        group: "geo",
        complexity: Some("O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`GEOSEARCH` with the `BYRADIUS` argument"),
        history: &[("6.2.0", "Added the `ANY` option for `COUNT`.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "longitude", kind: "double", ..A },
            Arg { name: "latitude", kind: "double", ..A },
            Arg { name: "radius", kind: "double", ..A },
            Arg { name: "unit", kind: "oneof", args: &[
                Arg { name: "m", kind: "pure-token", token: Some("M"), ..A },
                Arg { name: "km", kind: "pure-token", token: Some("KM"), ..A },
                Arg { name: "ft", kind: "pure-token", token: Some("FT"), ..A },
                Arg { name: "mi", kind: "pure-token", token: Some("MI"), ..A },
            ], ..A },
            Arg { name: "withcoord", kind: "pure-token", token: Some("WITHCOORD"), flags: &["optional"], ..A },
            Arg { name: "withdist", kind: "pure-token", token: Some("WITHDIST"), flags: &["optional"], ..A },
            Arg { name: "withhash", kind: "pure-token", token: Some("WITHHASH"), flags: &["optional"], ..A },
            Arg { name: "count", kind: "block", flags: &["optional"], args: &[
                Arg { name: "count", kind: "integer", token: Some("COUNT"), ..A },
                Arg { name: "any", kind: "pure-token", token: Some("ANY"), since: Some("6.2.0"), flags: &["optional"], ..A },
            ], ..A },
            Arg { name: "order", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "asc", kind: "pure-token", token: Some("ASC"), ..A },
                Arg { name: "desc", kind: "pure-token", token: Some("DESC"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "georadiusbymember",
        summary: "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member",
        since: "3.2.0",
        group: "geo",
        complexity: Some("O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`GEOSEARCH` and `GEOSEARCHSTORE` with the `BYRADIUS` and `FROMMEMBER` arguments"),
        history: &[("7.0.0", "Added support for uppercase unit names.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", ..A },
            Arg { name: "radius", kind: "double", ..A },
            Arg { name: "unit", kind: "oneof", args: &[
                Arg { name: "m", kind: "pure-token", token: Some("M"), ..A },
                Arg { name: "km", kind: "pure-token", token: Some("KM"), ..A },
                Arg { name: "ft", kind: "pure-token", token: Some("FT"), ..A },
                Arg { name: "mi", kind: "pure-token", token: Some("MI"), ..A },
            ], ..A },
            Arg { name: "withcoord", kind: "pure-token", token: Some("WITHCOORD"), flags: &["optional"], ..A },
            Arg { name: "withdist", kind: "pure-token", token: Some("WITHDIST"), flags: &["optional"], ..A },
            Arg { name: "withhash", kind: "pure-token", token: Some("WITHHASH"), flags: &["optional"], ..A },
            Arg { name: "count", kind: "block", flags: &["optional"], args: &[
                Arg { name: "count", kind: "integer", token: Some("COUNT"), ..A },
                Arg { name: "any", kind: "pure-token", token: Some("ANY"), flags: &["optional"], ..A },
            ], ..A },
            Arg { name: "order", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "asc", kind: "pure-token", token: Some("ASC"), ..A },
                Arg { name: "desc", kind: "pure-token", token: Some("DESC"), ..A },
            ], ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(1), token: Some("STORE"), flags: &["optional"], ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(2), token: Some("STOREDIST"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Keyword("STORE", 5), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Keyword("STOREDIST", 5), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "georadiusbymember_ro",
        summary: "A read-only variant for GEORADIUSBYMEMBER",
        since: "3.2.10",
        group: "geo",
        complexity: Some("O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`GEOSEARCH` with the `BYRADIUS` and `FROMMEMBER` arguments"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", ..A },
            Arg { name: "radius", kind: "double", ..A },
            Arg { name: "unit", kind: "oneof", args: &[
                Arg { name: "m", kind: "pure-token", token: Some("M"), ..A },
                Arg { name: "km", kind: "pure-token", token: Some("KM"), ..A },
                Arg { name: "ft", kind: "pure-token", token: Some("FT"), ..A },
                Arg { name: "mi", kind: "pure-token", token: Some("MI"), ..A },
            ], ..A },
            Arg { name: "withcoord", kind: "pure-token", token: Some("WITHCOORD"), flags: &["optional"], ..A },
            Arg { name: "withdist", kind: "pure-token", token: Some("WITHDIST"), flags: &["optional"], ..A },
            Arg { name: "withhash", kind: "pure-token", token: Some("WITHHASH"), flags: &["optional"], ..A },
            Arg { name: "count", kind: "block", flags: &["optional"], args: &[
                Arg { name: "count", kind: "integer", token: Some("COUNT"), ..A },
                Arg { name: "any", kind: "pure-token", token: Some("ANY"), flags: &["optional"], ..A },
            ], ..A },
            Arg { name: "order", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "asc", kind: "pure-token", token: Some("ASC"), ..A },
                Arg { name: "desc", kind: "pure-token", token: Some("DESC"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "geosearch",
        summary: "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
        since: "6.2.0",
        group: "geo",
        complexity: Some("O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape"),
        history: &[("7.0.0", "Added support for uppercase unit names.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "from", kind: "oneof", args: &[
                Arg { name: "member", kind: "string", token: Some("FROMMEMBER"), ..A },
                Arg { name: "longitude_latitude", kind: "block", token: Some("FROMLONLAT"), args: &[
                    Arg { name: "longitude", kind: "double", ..A },
                    Arg { name: "latitude", kind: "double", ..A },
                ], ..A },
            ], ..A },
            Arg { name: "by", kind: "oneof", args: &[
                Arg { name: "circle", kind: "block", args: &[
                    Arg { name: "radius", kind: "double", token: Some("BYRADIUS"), ..A },
                    Arg { name: "unit", kind: "oneof", args: &[
                        Arg { name: "m", kind: "pure-token", token: Some("M"), ..A },
                        Arg { name: "km", kind: "pure-token", token: Some("KM"), ..A },
                        Arg { name: "ft", kind: "pure-token", token: Some("FT"), ..A },
                        Arg { name: "mi", kind: "pure-token", token: Some("MI"), ..A },
                    ], ..A },
                ], ..A },
                Arg { name: "box", kind: "block", args: &[
                    Arg { name: "width", kind: "double", token: Some("BYBOX"), ..A },
                    Arg { name: "height", kind: "double", ..A },
                    Arg { name: "unit", kind: "oneof", args: &[
                        Arg { name: "m", kind: "pure-token", token: Some("M"), ..A },
                        Arg { name: "km", kind: "pure-token", token: Some("KM"), ..A },
                        Arg { name: "ft", kind: "pure-token", token: Some("FT"), ..A },
                        Arg { name: "mi", kind: "pure-token", token: Some("MI"), ..A },
                    ], ..A },
                ], ..A },
            ], ..A },
            Arg { name: "order", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "asc", kind: "pure-token", token: Some("ASC"), ..A },
                Arg { name: "desc", kind: "pure-token", token: Some("DESC"), ..A },
            ], ..A },
            Arg { name: "count", kind: "block", flags: &["optional"], args: &[
                Arg { name: "count", kind: "integer", token: Some("COUNT"), ..A },
                Arg { name: "any", kind: "pure-token", token: Some("ANY"), flags: &["optional"], ..A },
            ], ..A },
            Arg { name: "withcoord", kind: "pure-token", token: Some("WITHCOORD"), flags: &["optional"], ..A },
            Arg { name: "withdist", kind: "pure-token", token: Some("WITHDIST"), flags: &["optional"], ..A },
            Arg { name: "withhash", kind: "pure-token", token: Some("WITHHASH"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "geosearchstore",
        summary: "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.",
        since: "6.2.0",
        group: "geo",
        complexity: Some("O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape"),
        history: &[("7.0.0", "Added support for uppercase unit names.")],
        args: &[
            Arg { name: "destination", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "source", kind: "key", key_spec_index: Some(1), ..A },
            Arg { name: "from", kind: "oneof", args: &[
                Arg { name: "member", kind: "string", token: Some("FROMMEMBER"), ..A },
                Arg { name: "longitude_latitude", kind: "block", token: Some("FROMLONLAT"), args: &[
                    Arg { name: "longitude", kind: "double", ..A },
                    Arg { name: "latitude", kind: "double", ..A },
                ], ..A },
            ], ..A },
            Arg { name: "by", kind: "oneof", args: &[
                Arg { name: "circle", kind: "block", args: &[
                    Arg { name: "radius", kind: "double", token: Some("BYRADIUS"), ..A },
                    Arg { name: "unit", kind: "oneof", args: &[
                        Arg { name: "m", kind: "pure-token", token: Some("M"), ..A },
                        Arg { name: "km", kind: "pure-token", token: Some("KM"), ..A },
                        Arg { name: "ft", kind: "pure-token", token: Some("FT"), ..A },
                        Arg { name: "mi", kind: "pure-token", token: Some("MI"), ..A },
                    ], ..A },
                ], ..A },
                Arg { name: "box", kind: "block", args: &[
                    Arg { name: "width", kind: "double", token: Some("BYBOX"), ..A },
                    Arg { name: "height", kind: "double", ..A },
                    Arg { name: "unit", kind: "oneof", args: &[
                        Arg { name: "m", kind: "pure-token", token: Some("M"), ..A },
                        Arg { name: "km", kind: "pure-token", token: Some("KM"), ..A },
                        Arg { name: "ft", kind: "pure-token", token: Some("FT"), ..A },
                        Arg { name: "mi", kind: "pure-token", token: Some("MI"), ..A },
                    ], ..A },
                ], ..A },
            ], ..A },
            Arg { name: "order", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "asc", kind: "pure-token", token: Some("ASC"), ..A },
                Arg { name: "desc", kind: "pure-token", token: Some("DESC"), ..A },
            ], ..A },
            Arg { name: "count", kind: "block", flags: &["optional"], args: &[
                Arg { name: "count", kind: "integer", token: Some("COUNT"), ..A },
                Arg { name: "any", kind: "pure-token", token: Some("ANY"), flags: &["optional"], ..A },
            ], ..A },
            Arg { name: "storedist", kind: "pure-token", token: Some("STOREDIST"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "get",
        summary: "Get the value of a key",
        since: "1.0.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "getbit",
        summary: "Returns the bit value at offset in the string value stored at key",
        since: "2.2.0",
        group: "bitmap",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "offset", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "getdel",
        summary: "Get the value of a key and delete the key",
        since: "6.2.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "getex",
        summary: "Get the value of a key and optionally set its expiration",
        since: "6.2.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "expiration", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "seconds", kind: "integer", token: Some("EX"), ..A },
                Arg { name: "milliseconds", kind: "integer", token: Some("PX"), ..A },
                Arg { name: "unix-time-seconds", kind: "unix-time", token: Some("EXAT"), ..A },
                Arg { name: "unix-time-milliseconds", kind: "unix-time", token: Some("PXAT"), ..A },
                Arg { name: "persist", kind: "pure-token", token: Some("PERSIST"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: Some("RW and UPDATE because it changes the TTL"), flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "getrange",
        summary: "Get a substring of the string stored at a key",
        since: "2.4.0",
        group: "string",
        complexity: Some("O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "start", kind: "integer", ..A },
            Arg { name: "end", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "getset",
        summary: "Set the string value of a key and return its old value",
        since: "1.0.0",
        group: "string",
        complexity: Some("O(1)"),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`SET` with the `!GET` argument"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "value", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hdel",
        summary: "Delete one or more hash fields",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(N) where N is the number of fields to be removed."),
        history: &[("2.4.0", "Accepts multiple `field` arguments.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "field", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hello",
        summary: "Handshake with Redis",
        since: "6.0.0",
        group: "connection",
        complexity: Some("O(1)"),
        history: &[("6.2.0", "`protover` made optional; when called without arguments the command reports the current connection's context.")],
        args: &[
            Arg { name: "arguments", kind: "block", flags: &["optional"], args: &[
                Arg { name: "protover", kind: "integer", ..A },
                Arg { name: "username_password", kind: "block", token: Some("AUTH"), flags: &["optional"], args: &[
                    Arg { name: "username", kind: "string", ..A },
                    Arg { name: "password", kind: "string", ..A },
                ], ..A },
                Arg { name: "clientname", kind: "string", token: Some("SETNAME"), flags: &["optional"], ..A },
            ], ..A },
        ],
        ..D
    },
    Doc {
        name: "hexists",
        summary: "Determine if a hash field exists",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "field", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hget",
        summary: "Get the value of a hash field",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "field", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hgetall",
        summary: "Get all the fields and values in a hash",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(N) where N is the size of the hash."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hincrby",
        summary: "Increment the integer value of a hash field by the given number",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "field", kind: "string", ..A },
            Arg { name: "increment", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hincrbyfloat",
        summary: "Increment the float value of a hash field by the given amount",
        since: "2.6.0",
        group: "hash",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "field", kind: "string", ..A },
            Arg { name: "increment", kind: "double", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hkeys",
        summary: "Get all the fields in a hash",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(N) where N is the size of the hash."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hlen",
        summary: "Get the number of fields in a hash",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hmget",
        summary: "Get the values of all the given hash fields",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(N) where N is the number of fields being requested."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "field", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hmset",
        summary: "Set multiple hash fields to multiple values",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(N) where N is the number of fields being set."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("4.0.0"),
        replaced_by: Some("`HSET` with multiple field-value pairs"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "field_value", kind: "block", flags: &["multiple"], args: &[
                Arg { name: "field", kind: "string", ..A },
                Arg { name: "value", kind: "string", ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hrandfield",
        summary: "Get one or multiple random fields from a hash",
        since: "6.2.0",
        group: "hash",
        complexity: Some("O(N) where N is the number of fields returned"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "options", kind: "block", flags: &["optional"], args: &[
                Arg { name: "count", kind: "integer", ..A },
                Arg { name: "withvalues", kind: "pure-token", token: Some("WITHVALUES"), flags: &["optional"], ..A },
            ], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hscan",
        summary: "Incrementally iterate hash fields and associated values",
        since: "2.8.0",
        group: "hash",
        complexity: Some("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "cursor", kind: "integer", ..A },
            Arg { name: "pattern", kind: "pattern", token: Some("MATCH"), flags: &["optional"], ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hset",
        summary: "Set the string value of a hash field",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs."),
        history: &[("4.0.0", "Accepts multiple `field` and `value` arguments.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "field_value", kind: "block", flags: &["multiple"], args: &[
                Arg { name: "field", kind: "string", ..A },
                Arg { name: "value", kind: "string", ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hsetnx",
        summary: "Set the value of a hash field, only if the field does not exist",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "field", kind: "string", ..A },
            Arg { name: "value", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hstrlen",
        summary: "Get the length of the value of a hash field",
        since: "3.2.0",
        group: "hash",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "field", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "hvals",
        summary: "Get all the values in a hash",
        since: "2.0.0",
        group: "hash",
        complexity: Some("O(N) where N is the size of the hash."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "incr",
        summary: "Increment the integer value of a key by one",
        since: "1.0.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "incrby",
        summary: "Increment the integer value of a key by the given amount",
        since: "1.0.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "increment", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "incrbyfloat",
        summary: "Increment the float value of a key by the given amount",
        since: "2.6.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "increment", kind: "double", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "info",
        summary: "Get information and statistics about the server",
        since: "1.0.0",
        group: "server",
        complexity: Some("O(1)"),
        history: &[("7.0.0", "Added support for taking multiple section arguments.")],
        args: &[
            Arg { name: "section", kind: "string", flags: &["optional", "multiple"], ..A },
        ],
        tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        ..D
    },
    Doc {
        name: "keys",
        summary: "Find all keys matching the given pattern",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length."),
        args: &[
            Arg { name: "pattern", kind: "pattern", ..A },
        ],
        tips: &["request_policy:all_shards", "nondeterministic_output_order"],
        ..D
    },
    Doc {
        name: "lastsave",
        summary: "Get the UNIX time stamp of the last successful save to disk",
        since: "1.0.0",
        group: "server",
        complexity: Some("O(1)"),
        tips: &["nondeterministic_output"],
        ..D
    },
    Doc {
        name: "latency",
        summary: "A container for latency diagnostics commands",
        since: "2.8.13",
        group: "server",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "latency|doctor",
                summary: "Return a human readable latency analysis report.",
                since: "2.8.13",
                group: "server",
                complexity: Some("O(1)"),
                tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
                ..D
            },
            Doc {
                name: "latency|graph",
                summary: "Return a latency graph for the event.",
                since: "2.8.13",
                group: "server",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "event", kind: "string", ..A },
                ],
                tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
                ..D
            },
            Doc {
                name: "latency|help",
                summary: "Show helpful text about the different subcommands.",
                since: "2.8.13",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "latency|histogram",
                summary: "Return the cumulative distribution of latencies of a subset of commands or all.",
                since: "7.0.0",
                group: "server",
                complexity: Some("O(N) where N is the number of commands with latency information being retrieved."),
                args: &[
                    Arg { name: "command", kind: "string", flags: &["optional", "multiple"], ..A },
                ],
                tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
                ..D
            },
            Doc {
                name: "latency|history",
                summary: "Return timestamp-latency samples for the event.",
                since: "2.8.13",
                group: "server",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "event", kind: "string", ..A },
                ],
                tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
                ..D
            },
            Doc {
                name: "latency|latest",
                summary: "Return the latest latency samples for all events.",
                since: "2.8.13",
                group: "server",
                complexity: Some("O(1)"),
                tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
                ..D
            },
            Doc {
                name: "latency|reset",
                summary: "Reset latency data for one or more events.",
                since: "2.8.13",
                group: "server",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "event", kind: "string", flags: &["optional", "multiple"], ..A },
                ],
                tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "lcs",
        summary: "Find longest common substring",
        since: "7.0.0",
        group: "string",
        complexity: Some("O(N*M) where N and M are the lengths of s1 and s2, respectively"),
        args: &[
            Arg { name: "key1", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "key2", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "len", kind: "pure-token", token: Some("LEN"), flags: &["optional"], ..A },
            Arg { name: "idx", kind: "pure-token", token: Some("IDX"), flags: &["optional"], ..A },
            Arg { name: "len", kind: "integer", token: Some("MINMATCHLEN"), flags: &["optional"], ..A },
            Arg { name: "withmatchlen", kind: "pure-token", token: Some("WITHMATCHLEN"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(1, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "lindex",
        summary: "Get an element from a list by its index",
        since: "1.0.0",
        group: "list",
        complexity: Some("O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1)."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "index", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "linsert",
        summary: "Insert an element before or after another element in a list",
        since: "2.2.0",
        group: "list",
        complexity: Some("O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N)."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "where", kind: "oneof", args: &[
                Arg { name: "before", kind: "pure-token", token: Some("BEFORE"), ..A },
                Arg { name: "after", kind: "pure-token", token: Some("AFTER"), ..A },
            ], ..A },
            Arg { name: "pivot", kind: "string", ..A },
            Arg { name: "element", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "llen",
        summary: "Get the length of a list",
        since: "1.0.0",
        group: "list",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "lmove",
        summary: "Pop an element from a list, push it to another list and return it",
        since: "6.2.0",
        group: "list",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "source", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "destination", kind: "key", key_spec_index: Some(1), ..A },
            Arg { name: "wherefrom", kind: "oneof", args: &[
                Arg { name: "left", kind: "pure-token", token: Some("LEFT"), ..A },
                Arg { name: "right", kind: "pure-token", token: Some("RIGHT"), ..A },
            ], ..A },
            Arg { name: "whereto", kind: "oneof", args: &[
                Arg { name: "left", kind: "pure-token", token: Some("LEFT"), ..A },
                Arg { name: "right", kind: "pure-token", token: Some("RIGHT"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "lmpop",
        summary: "Pop elements from a list",
        since: "7.0.0",
        group: "list",
        complexity: Some("O(N+M) where N is the number of provided keys and M is the number of elements returned."),
        args: &[
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "where", kind: "oneof", args: &[
                Arg { name: "left", kind: "pure-token", token: Some("LEFT"), ..A },
                Arg { name: "right", kind: "pure-token", token: Some("RIGHT"), ..A },
            ], ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "lolwut",
        summary: "Display some computer art and the Redis version",
        since: "5.0.0",
        group: "server",
        args: &[
            Arg { name: "version", kind: "integer", token: Some("VERSION"), flags: &["optional"], ..A },
        ],
        ..D
    },
    Doc {
        name: "lpop",
        summary: "Remove and get the first elements in a list",
        since: "1.0.0",
        group: "list",
        complexity: Some("O(N) where N is the number of elements returned"),
        history: &[("6.2.0", "Added the `count` argument.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "count", kind: "integer", since: Some("6.2.0"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "lpos",
        summary: "Return the index of matching elements on a list",
        since: "6.0.6",
        group: "list",
        complexity: Some("O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "element", kind: "string", ..A },
            Arg { name: "rank", kind: "integer", token: Some("RANK"), flags: &["optional"], ..A },
            Arg { name: "num-matches", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
            Arg { name: "len", kind: "integer", token: Some("MAXLEN"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "lpush",
        summary: "Prepend one or multiple elements to a list",
        since: "1.0.0",
        group: "list",
        complexity: Some("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
        history: &[("2.4.0", "Accepts multiple `element` arguments.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "element", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "lpushx",
        summary: "Prepend an element to a list, only if the list exists",
        since: "2.2.0",
        group: "list",
        complexity: Some("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
        history: &[("4.0.0", "Accepts multiple `element` arguments.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "element", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "lrange",
        summary: "Get a range of elements from a list",
        since: "1.0.0",
        group: "list",
        complexity: Some("O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "start", kind: "integer", ..A },
            Arg { name: "stop", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "lrem",
        summary: "Remove elements from a list",
        since: "1.0.0",
        group: "list",
        complexity: Some("O(N+M) where N is the length of the list and M is the number of elements removed."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "count", kind: "integer", ..A },
            Arg { name: "element", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "lset",
        summary: "Set the value of an element in a list by its index",
        since: "1.0.0",
        group: "list",
        complexity: Some("O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1)."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "index", kind: "integer", ..A },
            Arg { name: "element", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "ltrim",
        summary: "Trim a list to the specified range",
        since: "1.0.0",
        group: "list",
        complexity: Some("O(N) where N is the number of elements to be removed by the operation."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "start", kind: "integer", ..A },
            Arg { name: "stop", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "memory",
        summary: "A container for memory diagnostics commands",
        since: "4.0.0",
        group: "server",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "memory|doctor",
                summary: "Outputs memory problems report",
                since: "4.0.0",
                group: "server",
                complexity: Some("O(1)"),
                tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
                ..D
            },
            Doc {
                name: "memory|help",
                summary: "Show helpful text about the different subcommands",
                since: "4.0.0",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "memory|malloc-stats",
                summary: "Show allocator internal stats",
                since: "4.0.0",
                group: "server",
                complexity: Some("Depends on how much memory is allocated, could be slow"),
                tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
                ..D
            },
            Doc {
                name: "memory|purge",
                summary: "Ask the allocator to release memory",
                since: "4.0.0",
                group: "server",
                complexity: Some("Depends on how much memory is allocated, could be slow"),
                tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
                ..D
            },
            Doc {
                name: "memory|stats",
                summary: "Show memory usage details",
                since: "4.0.0",
                group: "server",
                complexity: Some("O(1)"),
                tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
                ..D
            },
            Doc {
                name: "memory|usage",
                summary: "Estimate the memory usage of a key",
                since: "4.0.0",
                group: "server",
                complexity: Some("O(N) where N is the number of samples."),
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                    Arg { name: "count", kind: "integer", token: Some("SAMPLES"), flags: &["optional"], ..A },
                ],
                key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "mget",
        summary: "Get the values of all the given keys",
        since: "1.0.0",
        group: "string",
        complexity: Some("O(N) where N is the number of keys to retrieve."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
        ],
        tips: &["request_policy:multi_shard"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "migrate",
        summary: "Atomically transfer a key from a Redis instance to another one.",
        since: "2.6.0",
        group: "generic",
        complexity: Some("This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed."),
        history: &[("3.0.0", "Added the `COPY` and `REPLACE` options."), ("3.0.6", "Added the `KEYS` option."), ("4.0.7", "Added the `AUTH` option."), ("6.0.0", "Added the `AUTH2` option.")],
        args: &[
            Arg { name: "host", kind: "string", ..A },
            Arg { name: "port", kind: "integer", ..A },
            Arg { name: "key_or_empty_string", kind: "oneof", args: &[
                Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                Arg { name: "empty_string", kind: "pure-token", token: Some(""), ..A },
            ], ..A },
            Arg { name: "destination-db", kind: "integer", ..A },
            Arg { name: "timeout", kind: "integer", ..A },
            Arg { name: "copy", kind: "pure-token", token: Some("COPY"), since: Some("3.0.0"), flags: &["optional"], ..A },
            Arg { name: "replace", kind: "pure-token", token: Some("REPLACE"), since: Some("3.0.0"), flags: &["optional"], ..A },
            Arg { name: "authentication", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "password", kind: "string", token: Some("AUTH"), since: Some("4.0.7"), flags: &["optional"], ..A },
                Arg { name: "username_password", kind: "block", token: Some("AUTH2"), since: Some("6.0.0"), flags: &["optional"], args: &[
                    Arg { name: "username", kind: "string", ..A },
                    Arg { name: "password", kind: "string", ..A },
                ], ..A },
            ], ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(1), token: Some("KEYS"), since: Some("3.0.6"), flags: &["optional", "multiple"], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(3), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RW", "access", "delete", "incomplete"], begin: Begin::Keyword("KEYS", -2), find: Find::Range(-1, 1, 0) }],
        legacy: (3, 3, 1),
        ..D
    },
    Doc {
        name: "module",
        summary: "A container for module commands",
        since: "4.0.0",
        group: "server",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "module|help",
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "module|list",
                summary: "List all modules loaded by the server",
                since: "4.0.0",
                group: "server",
                complexity: Some("O(N) where N is the number of loaded modules."),
                tips: &["nondeterministic_output_order"],
                ..D
            },
            Doc {
                name: "module|load",
                summary: "Load a module",
                since: "4.0.0",
                group: "server",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "path", kind: "string", ..A },
                    Arg { name: "arg", kind: "string", flags: &["optional", "multiple"], ..A },
                ],
                ..D
            },
            Doc {
                name: "module|loadex",
                summary: "Load a module with extended parameters",
                since: "7.0.0",
                group: "server",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "path", kind: "string", ..A },
                    Arg { name: "configs", kind: "block", token: Some("CONFIG"), flags: &["optional", "multiple", "multiple_token"], args: &[
                        Arg { name: "name", kind: "string", ..A },
                        Arg { name: "value", kind: "string", ..A },
                    ], ..A },
                    Arg { name: "args", kind: "block", token: Some("ARGS"), flags: &["optional", "multiple"], args: &[
                        Arg { name: "arg", kind: "string", ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "module|unload",
                summary: "Unload a module",
                since: "4.0.0",
                group: "server",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "name", kind: "string", ..A },
                ],
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "monitor",
        summary: "Listen for all requests received by the server in real time",
        since: "1.0.0",
        group: "server",
        ..D
    },
    Doc {
        name: "move",
        summary: "Move a key to another database",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "db", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "mset",
        summary: "Set multiple keys to multiple values",
        since: "1.0.1",
        group: "string",
        complexity: Some("O(N) where N is the number of keys to set."),
        args: &[
            Arg { name: "key_value", kind: "block", flags: &["multiple"], args: &[
                Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                Arg { name: "value", kind: "string", ..A },
            ], ..A },
        ],
        tips: &["request_policy:multi_shard", "response_policy:all_succeeded"],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(-1, 2, 0) }],
        legacy: (1, -1, 2),
        ..D
    },
    Doc {
        name: "msetnx",
        summary: "Set multiple keys to multiple values, only if none of the keys exist",
        since: "1.0.1",
        group: "string",
        complexity: Some("O(N) where N is the number of keys to set."),
        args: &[
            Arg { name: "key_value", kind: "block", flags: &["multiple"], args: &[
                Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                Arg { name: "value", kind: "string", ..A },
            ], ..A },
        ],
        tips: &["request_policy:multi_shard", "response_policy:agg_min"],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "insert"], begin: Begin::Index(1), find: Find::Range(-1, 2, 0) }],
        legacy: (1, -1, 2),
        ..D
    },
    Doc {
        name: "multi",
        summary: "Mark the start of a transaction block",
        since: "1.2.0",
        group: "transactions",
        complexity: Some("O(1)"),
        ..D
    },
    Doc {
        name: "object",
        summary: "A container for object introspection commands",
        since: "2.2.3",
        group: "generic",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "object|encoding",
                summary: "Inspect the internal encoding of a Redis object",
                since: "2.2.3",
                group: "generic",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                ],
                tips: &["nondeterministic_output"],
                key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
            Doc {
                name: "object|freq",
                summary: "Get the logarithmic access frequency counter of a Redis object",
                since: "4.0.0",
                group: "generic",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                ],
                tips: &["nondeterministic_output"],
                key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
            Doc {
                name: "object|help",
                summary: "Show helpful text about the different subcommands",
                since: "6.2.0",
                group: "generic",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "object|idletime",
                summary: "Get the time since a Redis object was last accessed",
                since: "2.2.3",
                group: "generic",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                ],
                tips: &["nondeterministic_output"],
                key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
            Doc {
                name: "object|refcount",
                summary: "Get the number of references to the value of the key",
                since: "2.2.3",
                group: "generic",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                ],
                tips: &["nondeterministic_output"],
                key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "persist",
        summary: "Remove the expiration from a key",
        since: "2.2.0",
        group: "generic",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "pexpire",
        summary: "Set a key's time to live in milliseconds",
        since: "2.6.0",
        group: "generic",
        complexity: Some("O(1)"),
        history: &[("7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "milliseconds", kind: "integer", ..A },
            Arg { name: "condition", kind: "oneof", since: Some("7.0.0"), flags: &["optional"], args: &[
                Arg { name: "nx", kind: "pure-token", token: Some("NX"), ..A },
                Arg { name: "xx", kind: "pure-token", token: Some("XX"), ..A },
                Arg { name: "gt", kind: "pure-token", token: Some("GT"), ..A },
                Arg { name: "lt", kind: "pure-token", token: Some("LT"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "pexpireat",
        summary: "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        since: "2.6.0",
        group: "generic",
        complexity: Some("O(1)"),
        history: &[("7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "unix-time-milliseconds", kind: "unix-time", ..A },
            Arg { name: "condition", kind: "oneof", since: Some("7.0.0"), flags: &["optional"], args: &[
                Arg { name: "nx", kind: "pure-token", token: Some("NX"), ..A },
                Arg { name: "xx", kind: "pure-token", token: Some("XX"), ..A },
                Arg { name: "gt", kind: "pure-token", token: Some("GT"), ..A },
                Arg { name: "lt", kind: "pure-token", token: Some("LT"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "pexpiretime",
        summary: "Get the expiration Unix timestamp for a key in milliseconds",
        since: "7.0.0",
        group: "generic",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "pfadd",
        summary: "Adds the specified elements to the specified HyperLogLog.",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: Some("O(1) to add every element."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "element", kind: "string", flags: &["optional", "multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "pfcount",
        summary: "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: Some("O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: Some("RW because it may change the internal representation of the key, and propagate to replicas"), flags: &["RW", "access"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "pfdebug",
        summary: "Internal commands for debugging HyperLogLog values",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: Some("N/A"),
        doc_flags: &["syscmd"],
        args: &[
            Arg { name: "subcommand", kind: "string", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (2, 2, 1),
        ..D
    },
    Doc {
        name: "pfmerge",
        summary: "Merge N different HyperLogLogs into a single one.",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: Some("O(N) to merge N HyperLogLogs, but with high constant times."),
        args: &[
            Arg { name: "destkey", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "sourcekey", kind: "key", key_spec_index: Some(1), flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "pfselftest",
        summary: "An internal command for testing HyperLogLog values",
        since: "2.8.9",
        group: "hyperloglog",
        complexity: Some("N/A"),
        doc_flags: &["syscmd"],
        ..D
    },
    Doc {
        name: "ping",
        summary: "Ping the server",
        since: "1.0.0",
        group: "connection",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "message", kind: "string", flags: &["optional"], ..A },
        ],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        ..D
    },
    Doc {
        name: "psetex",
        summary: "Set the value and expiration in milliseconds of a key",
        since: "2.6.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "milliseconds", kind: "integer", ..A },
            Arg { name: "value", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "psubscribe",
        summary: "Listen for messages published to channels matching the given patterns",
        since: "2.0.0",
        group: "pubsub",
        complexity: Some("O(N) where N is the number of patterns the client is already subscribed to."),
        args: &[
            Arg { name: "pattern", kind: "block", flags: &["multiple"], args: &[
                Arg { name: "pattern", kind: "pattern", ..A },
            ], ..A },
        ],
        ..D
    },
    Doc {
        name: "psync",
        summary: "Internal command used for replication",
        since: "2.8.0",
        group: "server",
        args: &[
            Arg { name: "replicationid", kind: "string", ..A },
            Arg { name: "offset", kind: "integer", ..A },
        ],
        ..D
    },
    Doc {
        name: "pttl",
        summary: "Get the time to live for a key in milliseconds",
        since: "2.6.0",
        group: "generic",
        complexity: Some("O(1)"),
        history: &[("2.8.0", "Added the -2 reply.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "publish",
        summary: "Post a message to a channel",
        since: "2.0.0",
        group: "pubsub",
        complexity: Some("O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client)."),
        args: &[
            Arg { name: "channel", kind: "string", ..A },
            Arg { name: "message", kind: "string", ..A },
        ],
        ..D
    },
    Doc {
        name: "pubsub",
        summary: "A container for Pub/Sub commands",
        since: "2.8.0",
        group: "pubsub",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "pubsub|channels",
                summary: "List active channels",
                since: "2.8.0",
                group: "pubsub",
                complexity: Some("O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)"),
                args: &[
                    Arg { name: "pattern", kind: "pattern", flags: &["optional"], ..A },
                ],
                ..D
            },
            Doc {
                name: "pubsub|help",
                summary: "Show helpful text about the different subcommands",
                since: "6.2.0",
                group: "pubsub",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "pubsub|numpat",
                summary: "Get the count of unique patterns pattern subscriptions",
                since: "2.8.0",
                group: "pubsub",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "pubsub|numsub",
                summary: "Get the count of subscribers for channels",
                since: "2.8.0",
                group: "pubsub",
                complexity: Some("O(N) for the NUMSUB subcommand, where N is the number of requested channels"),
                args: &[
                    Arg { name: "channel", kind: "string", flags: &["optional", "multiple"], ..A },
                ],
                ..D
            },
            Doc {
                name: "pubsub|shardchannels",
                summary: "List active shard channels",
                since: "7.0.0",
                group: "pubsub",
                complexity: Some("O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels)."),
                args: &[
                    Arg { name: "pattern", kind: "pattern", flags: &["optional"], ..A },
                ],
                ..D
            },
            Doc {
                name: "pubsub|shardnumsub",
                summary: "Get the count of subscribers for shard channels",
                since: "7.0.0",
                group: "pubsub",
                complexity: Some("O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels"),
                args: &[
                    Arg { name: "shardchannel", kind: "string", flags: &["optional", "multiple"], ..A },
                ],
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "punsubscribe",
        summary: "Stop listening for messages posted to channels matching the given patterns",
        since: "2.0.0",
        group: "pubsub",
        complexity: Some("O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client)."),
        args: &[
            Arg { name: "pattern", kind: "pattern", flags: &["optional", "multiple"], ..A },
        ],
        ..D
    },
    Doc {
        name: "quit",
        summary: "Close the connection",
        since: "1.0.0",
        group: "connection",
        complexity: Some("O(1)"),
        ..D
    },
    Doc {
        name: "randomkey",
        summary: "Return a random key from the keyspace",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(1)"),
        tips: &["request_policy:all_shards", "nondeterministic_output"],
        ..D
    },
    Doc {
        name: "readonly",
        summary: "Enables read queries for a connection to a cluster replica node",
        since: "3.0.0",
        group: "cluster",
        complexity: Some("O(1)"),
        ..D
    },
    Doc {
        name: "readwrite",
        summary: "Disables read queries for a connection to a cluster replica node",
        since: "3.0.0",
        group: "cluster",
        complexity: Some("O(1)"),
        ..D
    },
    Doc {
        name: "rename",
        summary: "Rename a key",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "newkey", kind: "key", key_spec_index: Some(1), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "renamenx",
        summary: "Rename a key, only if the new key does not exist",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(1)"),
        history: &[("3.2.0", "The command no longer returns an error when source and destination names are the same.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "newkey", kind: "key", key_spec_index: Some(1), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["OW", "insert"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "replconf",
        summary: "An internal command for configuring the replication stream",
        since: "3.0.0",
        group: "server",
        complexity: Some("O(1)"),
        doc_flags: &["syscmd"],
        ..D
    },
    Doc {
        name: "replicaof",
        summary: "Make the server a replica of another instance, or promote it as master.",
        since: "5.0.0",
        group: "server",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "args", kind: "oneof", args: &[
                Arg { name: "host-port", kind: "block", args: &[
                    Arg { name: "host", kind: "string", ..A },
                    Arg { name: "port", kind: "integer", ..A },
                ], ..A },
                Arg { name: "no-one", kind: "block", args: &[
                    Arg { name: "no", kind: "pure-token", token: Some("NO"), ..A },
                    Arg { name: "one", kind: "pure-token", token: Some("ONE"), ..A },
                ], ..A },
            ], ..A },
        ],
        ..D
    },
    Doc {
        name: "reset",
        summary: "Reset the connection",
        since: "6.2.0",
        group: "connection",
        complexity: Some("O(1)"),
        ..D
    },
    Doc {
        name: "restore",
        summary: "Create a key using the provided serialized value, previously obtained using DUMP.",
        since: "2.6.0",
        group: "generic",
        complexity: Some("O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N))."),
        history: &[("3.0.0", "Added the `REPLACE` modifier."), ("5.0.0", "Added the `ABSTTL` modifier."), ("5.0.0", "Added the `IDLETIME` and `FREQ` options.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "ttl", kind: "integer", ..A },
            Arg { name: "serialized-value", kind: "string", ..A },
            Arg { name: "replace", kind: "pure-token", token: Some("REPLACE"), since: Some("3.0.0"), flags: &["optional"], ..A },
            Arg { name: "absttl", kind: "pure-token", token: Some("ABSTTL"), since: Some("5.0.0"), flags: &["optional"], ..A },
            Arg { name: "seconds", kind: "integer", token: Some("IDLETIME"), since: Some("5.0.0"), flags: &["optional"], ..A },
            Arg { name: "frequency", kind: "integer", token: Some("FREQ"), since: Some("5.0.0"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "restore-asking",
        summary: "An internal command for migrating keys in a cluster",
        since: "3.0.0",
        group: "server",
        complexity: Some("O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N))."),
        doc_flags: &["syscmd"],
        history: &[("3.0.0", "Added the `REPLACE` modifier."), ("5.0.0", "Added the `ABSTTL` modifier."), ("5.0.0", "Added the `IDLETIME` and `FREQ` options.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "ttl", kind: "integer", ..A },
            Arg { name: "serialized-value", kind: "string", ..A },
            Arg { name: "replace", kind: "pure-token", token: Some("REPLACE"), since: Some("3.0.0"), flags: &["optional"], ..A },
            Arg { name: "absttl", kind: "pure-token", token: Some("ABSTTL"), since: Some("5.0.0"), flags: &["optional"], ..A },
            Arg { name: "seconds", kind: "integer", token: Some("IDLETIME"), since: Some("5.0.0"), flags: &["optional"], ..A },
            Arg { name: "frequency", kind: "integer", token: Some("FREQ"), since: Some("5.0.0"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "role",
        summary: "Return the role of the instance in the context of replication",
        since: "2.8.12",
        group: "server",
        complexity: Some("O(1)"),
        ..D
    },
    Doc {
        name: "rpop",
        summary: "Remove and get the last elements in a list",
        since: "1.0.0",
        group: "list",
        complexity: Some("O(N) where N is the number of elements returned"),
        history: &[("6.2.0", "Added the `count` argument.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "count", kind: "integer", since: Some("6.2.0"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "rpoplpush",
        summary: "Remove the last element in a list, prepend it to another list and return it",
        since: "1.2.0",
        group: "list",
        complexity: Some("O(1)"),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`LMOVE` with the `RIGHT` and `LEFT` arguments"),
        args: &[
            Arg { name: "source", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "destination", kind: "key", key_spec_index: Some(1), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "rpush",
        summary: "Append one or multiple elements to a list",
        since: "1.0.0",
        group: "list",
        complexity: Some("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
        history: &[("2.4.0", "Accepts multiple `element` arguments.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "element", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "rpushx",
        summary: "Append an element to a list, only if the list exists",
        since: "2.2.0",
        group: "list",
        complexity: Some("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
        history: &[("4.0.0", "Accepts multiple `element` arguments.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "element", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "sadd",
        summary: "Add one or more members to a set",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
        history: &[("2.4.0", "Accepts multiple `member` arguments.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "save",
        summary: "Synchronously save the dataset to disk",
        since: "1.0.0",
        group: "server",
        complexity: Some("O(N) where N is the total number of keys in all databases"),
        ..D
    },
    Doc {
        name: "scan",
        summary: "Incrementally iterate the keys space",
        since: "2.8.0",
        group: "generic",
        complexity: Some("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."),
        history: &[("6.0.0", "Added the `TYPE` subcommand.")],
        args: &[
            Arg { name: "cursor", kind: "integer", ..A },
            Arg { name: "pattern", kind: "pattern", token: Some("MATCH"), flags: &["optional"], ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
            Arg { name: "type", kind: "string", token: Some("TYPE"), since: Some("6.0.0"), flags: &["optional"], ..A },
        ],
        tips: &["nondeterministic_output", "request_policy:special"],
        ..D
    },
    Doc {
        name: "scard",
        summary: "Get the number of members in a set",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "script",
        summary: "A container for Lua scripts management commands",
        since: "2.6.0",
        group: "scripting",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "script|debug",
                summary: "Set the debug mode for executed scripts.",
                since: "3.2.0",
                group: "scripting",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "mode", kind: "oneof", args: &[
                        Arg { name: "yes", kind: "pure-token", token: Some("YES"), ..A },
                        Arg { name: "sync", kind: "pure-token", token: Some("SYNC"), ..A },
                        Arg { name: "no", kind: "pure-token", token: Some("NO"), ..A },
                    ], ..A },
                ],
                ..D
            },
            Doc {
                name: "script|exists",
                summary: "Check existence of scripts in the script cache.",
                since: "2.6.0",
                group: "scripting",
                complexity: Some("O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation)."),
                args: &[
                    Arg { name: "sha1", kind: "string", flags: &["multiple"], ..A },
                ],
                tips: &["request_policy:all_shards", "response_policy:agg_logical_and"],
                ..D
            },
            Doc {
                name: "script|flush",
                summary: "Remove all the scripts from the script cache.",
                since: "2.6.0",
                group: "scripting",
                complexity: Some("O(N) with N being the number of scripts in cache"),
                history: &[("6.2.0", "Added the `ASYNC` and `SYNC` flushing mode modifiers.")],
                args: &[
                    Arg { name: "async", kind: "oneof", since: Some("6.2.0"), flags: &["optional"], args: &[
                        Arg { name: "async", kind: "pure-token", token: Some("ASYNC"), ..A },
                        Arg { name: "sync", kind: "pure-token", token: Some("SYNC"), ..A },
                    ], ..A },
                ],
                tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
                ..D
            },
            Doc {
                name: "script|help",
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                group: "scripting",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "script|kill",
                summary: "Kill the script currently in execution.",
                since: "2.6.0",
                group: "scripting",
                complexity: Some("O(1)"),
                tips: &["request_policy:all_shards", "response_policy:one_succeeded"],
                ..D
            },
            Doc {
                name: "script|load",
                summary: "Load the specified Lua script into the script cache.",
                since: "2.6.0",
                group: "scripting",
                complexity: Some("O(N) with N being the length in bytes of the script body."),
                args: &[
                    Arg { name: "script", kind: "string", ..A },
                ],
                tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "sdiff",
        summary: "Subtract multiple sets",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(N) where N is the total number of elements in all given sets."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
        ],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "sdiffstore",
        summary: "Subtract multiple sets and store the resulting set in a key",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(N) where N is the total number of elements in all given sets."),
        args: &[
            Arg { name: "destination", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(1), flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "select",
        summary: "Change the selected database for the current connection",
        since: "1.0.0",
        group: "connection",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "index", kind: "integer", ..A },
        ],
        ..D
    },
    Doc {
        name: "set",
        summary: "Set the string value of a key",
        since: "1.0.0",
        group: "string",
        complexity: Some("O(1)"),
        history: &[("2.6.12", "Added the `EX`, `PX`, `NX` and `XX` options."), ("6.0.0", "Added the `KEEPTTL` option."), ("6.2.0", "Added the `GET`, `EXAT` and `PXAT` option."), ("7.0.0", "Allowed the `NX` and `GET` options to be used together.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "value", kind: "string", ..A },
            Arg { name: "condition", kind: "oneof", since: Some("2.6.12"), flags: &["optional"], args: &[
                Arg { name: "nx", kind: "pure-token", token: Some("NX"), ..A },
                Arg { name: "xx", kind: "pure-token", token: Some("XX"), ..A },
            ], ..A },
            Arg { name: "get", kind: "pure-token", token: Some("GET"), since: Some("6.2.0"), flags: &["optional"], ..A },
            Arg { name: "expiration", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "seconds", kind: "integer", token: Some("EX"), since: Some("2.6.12"), ..A },
                Arg { name: "milliseconds", kind: "integer", token: Some("PX"), since: Some("2.6.12"), ..A },
                Arg { name: "unix-time-seconds", kind: "unix-time", token: Some("EXAT"), since: Some("6.2.0"), ..A },
                Arg { name: "unix-time-milliseconds", kind: "unix-time", token: Some("PXAT"), since: Some("6.2.0"), ..A },
                Arg { name: "keepttl", kind: "pure-token", token: Some("KEEPTTL"), since: Some("6.0.0"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: Some("RW and ACCESS due to the optional `GET` argument"), flags: &["RW", "access", "update", "variable_flags"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "setbit",
        summary: "Sets or clears the bit at offset in the string value stored at key",
        since: "2.2.0",
        group: "bitmap",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "offset", kind: "integer", ..A },
            Arg { name: "value", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "setex",
        summary: "Set the value and expiration of a key",
        since: "2.0.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "seconds", kind: "integer", ..A },
            Arg { name: "value", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "setnx",
        summary: "Set the value of a key, only if the key does not exist",
        since: "1.0.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "value", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "insert"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "setrange",
        summary: "Overwrite part of a string at key starting at the specified offset",
        since: "2.2.0",
        group: "string",
        complexity: Some("O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "offset", kind: "integer", ..A },
            Arg { name: "value", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "shutdown",
        summary: "Synchronously save the dataset to disk and then shut down the server",
        since: "1.0.0",
        group: "server",
        complexity: Some("O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)"),
        history: &[("7.0.0", "Added the `NOW`, `FORCE` and `ABORT` modifiers.")],
        args: &[
            Arg { name: "nosave_save", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "nosave", kind: "pure-token", token: Some("NOSAVE"), ..A },
                Arg { name: "save", kind: "pure-token", token: Some("SAVE"), ..A },
            ], ..A },
            Arg { name: "now", kind: "pure-token", token: Some("NOW"), since: Some("7.0.0"), flags: &["optional"], ..A },
            Arg { name: "force", kind: "pure-token", token: Some("FORCE"), since: Some("7.0.0"), flags: &["optional"], ..A },
            Arg { name: "abort", kind: "pure-token", token: Some("ABORT"), since: Some("7.0.0"), flags: &["optional"], ..A },
        ],
        ..D
    },
    Doc {
        name: "sinter",
        summary: "Intersect multiple sets",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
        ],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "sintercard",
        summary: "Intersect multiple sets and return the cardinality of the result",
        since: "7.0.0",
        group: "set",
        complexity: Some("O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
        args: &[
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "limit", kind: "integer", token: Some("LIMIT"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "sinterstore",
        summary: "Intersect multiple sets and store the resulting set in a key",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
        args: &[
            Arg { name: "destination", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(1), flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "sismember",
        summary: "Determine if a given value is a member of a set",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "slaveof",
        summary: "Make the server a replica of another instance, or promote it as master.",
        since: "1.0.0",
        group: "server",
        complexity: Some("O(1)"),
        doc_flags: &["deprecated"],
        deprecated_since: Some("5.0.0"),
        replaced_by: Some("`REPLICAOF`"),
        args: &[
            Arg { name: "args", kind: "oneof", args: &[
                Arg { name: "host-port", kind: "block", args: &[
                    Arg { name: "host", kind: "string", ..A },
                    Arg { name: "port", kind: "integer", ..A },
                ], ..A },
                Arg { name: "no-one", kind: "block", args: &[
                    Arg { name: "no", kind: "pure-token", token: Some("NO"), ..A },
                    Arg { name: "one", kind: "pure-token", token: Some("ONE"), ..A },
                ], ..A },
            ], ..A },
        ],
        ..D
    },
    Doc {
        name: "slowlog",
        summary: "A container for slow log commands",
        since: "2.2.12",
        group: "server",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "slowlog|get",
                summary: "Get the slow log's entries",
                since: "2.2.12",
                group: "server",
                complexity: Some("O(N) where N is the number of entries returned"),
                history: &[("4.0.0", "Added client IP address, port and name to the reply.")],
                args: &[
                    Arg { name: "count", kind: "integer", flags: &["optional"], ..A },
                ],
                tips: &["request_policy:all_nodes", "nondeterministic_output"],
                ..D
            },
            Doc {
                name: "slowlog|help",
                summary: "Show helpful text about the different subcommands",
                since: "6.2.0",
                group: "server",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "slowlog|len",
                summary: "Get the slow log's length",
                since: "2.2.12",
                group: "server",
                complexity: Some("O(1)"),
                tips: &["request_policy:all_nodes", "response_policy:agg_sum", "nondeterministic_output"],
                ..D
            },
            Doc {
                name: "slowlog|reset",
                summary: "Clear all entries from the slow log",
                since: "2.2.12",
                group: "server",
                complexity: Some("O(N) where N is the number of entries in the slowlog"),
                tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "smembers",
        summary: "Get all the members in a set",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(N) where N is the set cardinality."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "smismember",
        summary: "Returns the membership associated with the given elements for a set",
        since: "6.2.0",
        group: "set",
        complexity: Some("O(N) where N is the number of elements being checked for membership"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "smove",
        summary: "Move a member from one set to another",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "source", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "destination", kind: "key", key_spec_index: Some(1), ..A },
            Arg { name: "member", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "sort",
        summary: "Sort the elements in a list, set or sorted set",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "pattern", kind: "pattern", key_spec_index: Some(1), token: Some("BY"), flags: &["optional"], ..A },
            Arg { name: "offset_count", kind: "block", token: Some("LIMIT"), flags: &["optional"], args: &[
                Arg { name: "offset", kind: "integer", ..A },
                Arg { name: "count", kind: "integer", ..A },
            ], ..A },
            Arg { name: "pattern", kind: "pattern", key_spec_index: Some(1), token: Some("GET"), flags: &["optional", "multiple", "multiple_token"], ..A },
            Arg { name: "order", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "asc", kind: "pure-token", token: Some("ASC"), ..A },
                Arg { name: "desc", kind: "pure-token", token: Some("DESC"), ..A },
            ], ..A },
            Arg { name: "sorting", kind: "pure-token", token: Some("ALPHA"), flags: &["optional"], ..A },
            Arg { name: "destination", kind: "key", key_spec_index: Some(2), token: Some("STORE"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: Some("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"), flags: &["RO", "access"], begin: Begin::Unknown, find: Find::Unknown }, KeySpec { notes: Some("For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array"), flags: &["OW", "update"], begin: Begin::Unknown, find: Find::Unknown }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "sort_ro",
        summary: "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        since: "7.0.0",
        group: "generic",
        complexity: Some("O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "pattern", kind: "pattern", key_spec_index: Some(1), token: Some("BY"), flags: &["optional"], ..A },
            Arg { name: "offset_count", kind: "block", token: Some("LIMIT"), flags: &["optional"], args: &[
                Arg { name: "offset", kind: "integer", ..A },
                Arg { name: "count", kind: "integer", ..A },
            ], ..A },
            Arg { name: "pattern", kind: "pattern", key_spec_index: Some(1), token: Some("GET"), flags: &["optional", "multiple", "multiple_token"], ..A },
            Arg { name: "order", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "asc", kind: "pure-token", token: Some("ASC"), ..A },
                Arg { name: "desc", kind: "pure-token", token: Some("DESC"), ..A },
            ], ..A },
            Arg { name: "sorting", kind: "pure-token", token: Some("ALPHA"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: Some("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"), flags: &["RO", "access"], begin: Begin::Unknown, find: Find::Unknown }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "spop",
        summary: "Remove and return one or multiple random members from a set",
        since: "1.0.0",
        group: "set",
        complexity: Some("Without the count argument O(1), otherwise O(N) where N is the value of the passed count."),
        history: &[("3.2.0", "Added the `count` argument.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "count", kind: "integer", since: Some("3.2.0"), flags: &["optional"], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "spublish",
        summary: "Post a message to a shard channel",
        since: "7.0.0",
        group: "pubsub",
        complexity: Some("O(N) where N is the number of clients subscribed to the receiving shard channel."),
        args: &[
            Arg { name: "shardchannel", kind: "string", ..A },
            Arg { name: "message", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["not_key"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "srandmember",
        summary: "Get one or multiple random members from a set",
        since: "1.0.0",
        group: "set",
        complexity: Some("Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count."),
        history: &[("2.6.0", "Added the optional `count` argument.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "count", kind: "integer", since: Some("2.6.0"), flags: &["optional"], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "srem",
        summary: "Remove one or more members from a set",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(N) where N is the number of members to be removed."),
        history: &[("2.4.0", "Accepts multiple `member` arguments.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "sscan",
        summary: "Incrementally iterate Set elements",
        since: "2.8.0",
        group: "set",
        complexity: Some("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "cursor", kind: "integer", ..A },
            Arg { name: "pattern", kind: "pattern", token: Some("MATCH"), flags: &["optional"], ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "ssubscribe",
        summary: "Listen for messages published to the given shard channels",
        since: "7.0.0",
        group: "pubsub",
        complexity: Some("O(N) where N is the number of shard channels to subscribe to."),
        args: &[
            Arg { name: "shardchannel", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["not_key"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "strlen",
        summary: "Get the length of the value stored in a key",
        since: "2.2.0",
        group: "string",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "subscribe",
        summary: "Listen for messages published to the given channels",
        since: "2.0.0",
        group: "pubsub",
        complexity: Some("O(N) where N is the number of channels to subscribe to."),
        args: &[
            Arg { name: "channel", kind: "string", flags: &["multiple"], ..A },
        ],
        ..D
    },
    Doc {
        name: "substr",
        summary: "Get a substring of the string stored at a key",
        since: "1.0.0",
        group: "string",
        complexity: Some("O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("2.0.0"),
        replaced_by: Some("`GETRANGE`"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "start", kind: "integer", ..A },
            Arg { name: "end", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "sunion",
        summary: "Add multiple sets",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(N) where N is the total number of elements in all given sets."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
        ],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "sunionstore",
        summary: "Add multiple sets and store the resulting set in a key",
        since: "1.0.0",
        group: "set",
        complexity: Some("O(N) where N is the total number of elements in all given sets."),
        args: &[
            Arg { name: "destination", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(1), flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "sunsubscribe",
        summary: "Stop listening for messages posted to the given shard channels",
        since: "7.0.0",
        group: "pubsub",
        complexity: Some("O(N) where N is the number of clients already subscribed to a shard channel."),
        args: &[
            Arg { name: "shardchannel", kind: "string", flags: &["optional", "multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["not_key"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "swapdb",
        summary: "Swaps two Redis databases",
        since: "4.0.0",
        group: "server",
        complexity: Some("O(N) where N is the count of clients watching or blocking on keys from both databases."),
        args: &[
            Arg { name: "index1", kind: "integer", ..A },
            Arg { name: "index2", kind: "integer", ..A },
        ],
        ..D
    },
    Doc {
        name: "sync",
        summary: "Internal command used for replication",
        since: "1.0.0",
        group: "server",
        ..D
    },
    Doc {
        name: "time",
        summary: "Return the current server time",
        since: "2.6.0",
        group: "server",
        complexity: Some("O(1)"),
        tips: &["nondeterministic_output"],
        ..D
    },
    Doc {
        name: "touch",
        summary: "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        since: "3.2.1",
        group: "generic",
        complexity: Some("O(N) where N is the number of keys that will be touched."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
        ],
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "ttl",
        summary: "Get the time to live for a key in seconds",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(1)"),
        history: &[("2.8.0", "Added the -2 reply.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "type",
        summary: "Determine the type stored at key",
        since: "1.0.0",
        group: "generic",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "unlink",
        summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
        since: "4.0.0",
        group: "generic",
        complexity: Some("O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
        ],
        tips: &["request_policy:multi_shard", "response_policy:agg_sum"],
        key_specs: &[KeySpec { notes: None, flags: &["RM", "delete"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "unsubscribe",
        summary: "Stop listening for messages posted to the given channels",
        since: "2.0.0",
        group: "pubsub",
        complexity: Some("O(N) where N is the number of clients already subscribed to a channel."),
        args: &[
            Arg { name: "channel", kind: "string", flags: &["optional", "multiple"], ..A },
        ],
        ..D
    },
    Doc {
        name: "unwatch",
        summary: "Forget about all watched keys",
        since: "2.2.0",
        group: "transactions",
        complexity: Some("O(1)"),
        ..D
    },
    Doc {
        name: "wait",
        summary: "Wait for the synchronous replication of all the write commands sent in the context of the current connection",
        since: "3.0.0",
        group: "generic",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "numreplicas", kind: "integer", ..A },
            Arg { name: "timeout", kind: "integer", ..A },
        ],
        tips: &["request_policy:all_shards", "response_policy:agg_min"],
        ..D
    },
    Doc {
        name: "watch",
        summary: "Watch the given keys to determine execution of the MULTI/EXEC block",
        since: "2.2.0",
        group: "transactions",
        complexity: Some("O(1) for every key."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(-1, 1, 0) }],
        legacy: (1, -1, 1),
        ..D
    },
    Doc {
        name: "xack",
        summary: "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
        since: "5.0.0",
        group: "stream",
        complexity: Some("O(1) for each message ID processed."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "group", kind: "string", ..A },
            Arg { name: "id", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "xadd",
        summary: "Appends a new entry to a stream",
        since: "5.0.0",
        group: "stream",
        complexity: Some("O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted."),
        history: &[("6.2.0", "Added the `NOMKSTREAM` option, `MINID` trimming strategy and the `LIMIT` option."), ("7.0.0", "Added support for the `<ms>-*` explicit ID form.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "nomkstream", kind: "pure-token", token: Some("NOMKSTREAM"), since: Some("6.2.0"), flags: &["optional"], ..A },
            Arg { name: "trim", kind: "block", flags: &["optional"], args: &[
                Arg { name: "strategy", kind: "oneof", args: &[
                    Arg { name: "maxlen", kind: "pure-token", token: Some("MAXLEN"), ..A },
                    Arg { name: "minid", kind: "pure-token", token: Some("MINID"), since: Some("6.2.0"), ..A },
                ], ..A },
                Arg { name: "operator", kind: "oneof", flags: &["optional"], args: &[
                    Arg { name: "equal", kind: "pure-token", token: Some("="), ..A },
                    Arg { name: "approximately", kind: "pure-token", token: Some("~"), ..A },
                ], ..A },
                Arg { name: "threshold", kind: "string", ..A },
                Arg { name: "count", kind: "integer", token: Some("LIMIT"), since: Some("6.2.0"), flags: &["optional"], ..A },
            ], ..A },
            Arg { name: "id_or_auto", kind: "oneof", args: &[
                Arg { name: "auto_id", kind: "pure-token", token: Some("*"), ..A },
                Arg { name: "id", kind: "string", ..A },
            ], ..A },
            Arg { name: "field_value", kind: "block", flags: &["multiple"], args: &[
                Arg { name: "field", kind: "string", ..A },
                Arg { name: "value", kind: "string", ..A },
            ], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: Some("UPDATE instead of INSERT because of the optional trimming feature"), flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "xautoclaim",
        summary: "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.",
        since: "6.2.0",
        group: "stream",
        complexity: Some("O(1) if COUNT is small."),
        history: &[("7.0.0", "Added an element to the reply array, containing deleted entries the command cleared from the PEL")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "group", kind: "string", ..A },
            Arg { name: "consumer", kind: "string", ..A },
            Arg { name: "min-idle-time", kind: "string", ..A },
            Arg { name: "start", kind: "string", ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
            Arg { name: "justid", kind: "pure-token", token: Some("JUSTID"), flags: &["optional"], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "xclaim",
        summary: "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.",
        since: "5.0.0",
        group: "stream",
        complexity: Some("O(log N) with N being the number of messages in the PEL of the consumer group."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "group", kind: "string", ..A },
            Arg { name: "consumer", kind: "string", ..A },
            Arg { name: "min-idle-time", kind: "string", ..A },
            Arg { name: "id", kind: "string", flags: &["multiple"], ..A },
            Arg { name: "ms", kind: "integer", token: Some("IDLE"), flags: &["optional"], ..A },
            Arg { name: "unix-time-milliseconds", kind: "unix-time", token: Some("TIME"), flags: &["optional"], ..A },
            Arg { name: "count", kind: "integer", token: Some("RETRYCOUNT"), flags: &["optional"], ..A },
            Arg { name: "force", kind: "pure-token", token: Some("FORCE"), flags: &["optional"], ..A },
            Arg { name: "justid", kind: "pure-token", token: Some("JUSTID"), flags: &["optional"], ..A },
            Arg { name: "id", kind: "string", token: Some("LASTID"), flags: &["optional"], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "xdel",
        summary: "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.",
        since: "5.0.0",
        group: "stream",
        complexity: Some("O(1) for each single item to delete in the stream, regardless of the stream size."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "id", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "xgroup",
        summary: "A container for consumer groups commands",
        since: "5.0.0",
        group: "stream",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "xgroup|create",
                summary: "Create a consumer group.",
                since: "5.0.0",
                group: "stream",
                complexity: Some("O(1)"),
                history: &[("7.0.0", "Added the `entries_read` named argument.")],
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                    Arg { name: "groupname", kind: "string", ..A },
                    Arg { name: "id", kind: "oneof", args: &[
                        Arg { name: "id", kind: "string", ..A },
                        Arg { name: "new_id", kind: "pure-token", token: Some("$"), ..A },
                    ], ..A },
                    Arg { name: "mkstream", kind: "pure-token", token: Some("MKSTREAM"), flags: &["optional"], ..A },
                    Arg { name: "entries_read", kind: "integer", token: Some("ENTRIESREAD"), flags: &["optional"], ..A },
                ],
                key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
            Doc {
                name: "xgroup|createconsumer",
                summary: "Create a consumer in a consumer group.",
                since: "6.2.0",
                group: "stream",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                    Arg { name: "groupname", kind: "string", ..A },
                    Arg { name: "consumername", kind: "string", ..A },
                ],
                key_specs: &[KeySpec { notes: None, flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
            Doc {
                name: "xgroup|delconsumer",
                summary: "Delete a consumer from a consumer group.",
                since: "5.0.0",
                group: "stream",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                    Arg { name: "groupname", kind: "string", ..A },
                    Arg { name: "consumername", kind: "string", ..A },
                ],
                key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
            Doc {
                name: "xgroup|destroy",
                summary: "Destroy a consumer group.",
                since: "5.0.0",
                group: "stream",
                complexity: Some("O(N) where N is the number of entries in the group's pending entries list (PEL)."),
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                    Arg { name: "groupname", kind: "string", ..A },
                ],
                key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
            Doc {
                name: "xgroup|help",
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                group: "stream",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "xgroup|setid",
                summary: "Set a consumer group to an arbitrary last delivered ID value.",
                since: "5.0.0",
                group: "stream",
                complexity: Some("O(1)"),
                history: &[("7.0.0", "Added the optional `entries_read` argument.")],
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                    Arg { name: "groupname", kind: "string", ..A },
                    Arg { name: "id", kind: "oneof", args: &[
                        Arg { name: "id", kind: "string", ..A },
                        Arg { name: "new_id", kind: "pure-token", token: Some("$"), ..A },
                    ], ..A },
                    Arg { name: "entries_read", kind: "integer", token: Some("ENTRIESREAD"), flags: &["optional"], ..A },
                ],
                key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "xinfo",
        summary: "A container for stream introspection commands",
        since: "5.0.0",
        group: "stream",
        complexity: Some("Depends on subcommand."),
        subcommands: &[
            Doc {
                name: "xinfo|consumers",
                summary: "List the consumers in a consumer group",
                since: "5.0.0",
                group: "stream",
                complexity: Some("O(1)"),
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                    Arg { name: "groupname", kind: "string", ..A },
                ],
                tips: &["nondeterministic_output"],
                key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
            Doc {
                name: "xinfo|groups",
                summary: "List the consumer groups of a stream",
                since: "5.0.0",
                group: "stream",
                complexity: Some("O(1)"),
                history: &[("7.0.0", "Added the `entries-read` and `lag` fields")],
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                ],
                key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
            Doc {
                name: "xinfo|help",
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                group: "stream",
                complexity: Some("O(1)"),
                ..D
            },
            Doc {
                name: "xinfo|stream",
                summary: "Get information about a stream",
                since: "5.0.0",
                group: "stream",
                complexity: Some("O(1)"),
                history: &[("6.0.0", "Added the `FULL` modifier."), ("7.0.0", "Added the `max-deleted-entry-id`, `entries-added`, `recorded-first-entry-id`, `entries-read` and `lag` fields")],
                args: &[
                    Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
                    Arg { name: "full", kind: "block", token: Some("FULL"), flags: &["optional"], args: &[
                        Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
                    ], ..A },
                ],
                key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
                legacy: (2, 2, 1),
                ..D
            },
        ],
        ..D
    },
    Doc {
        name: "xlen",
        summary: "Return the number of entries in a stream",
        since: "5.0.0",
        group: "stream",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "xpending",
        summary: "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.",
        since: "5.0.0",
        group: "stream",
        complexity: Some("O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer."),
        history: &[("6.2.0", "Added the `IDLE` option and exclusive range intervals.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "group", kind: "string", ..A },
            Arg { name: "filters", kind: "block", flags: &["optional"], args: &[
                Arg { name: "min-idle-time", kind: "integer", token: Some("IDLE"), since: Some("6.2.0"), flags: &["optional"], ..A },
                Arg { name: "start", kind: "string", ..A },
                Arg { name: "end", kind: "string", ..A },
                Arg { name: "count", kind: "integer", ..A },
                Arg { name: "consumer", kind: "string", flags: &["optional"], ..A },
            ], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "xrange",
        summary: "Return a range of elements in a stream, with IDs matching the specified IDs interval",
        since: "5.0.0",
        group: "stream",
        complexity: Some("O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1)."),
        history: &[("6.2.0", "Added exclusive ranges.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "start", kind: "string", ..A },
            Arg { name: "end", kind: "string", ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "xread",
        summary: "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.",
        since: "5.0.0",
        group: "stream",
        complexity: Some("For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data."),
        args: &[
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
            Arg { name: "milliseconds", kind: "integer", token: Some("BLOCK"), flags: &["optional"], ..A },
            Arg { name: "streams", kind: "block", token: Some("STREAMS"), args: &[
                Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
                Arg { name: "id", kind: "string", flags: &["multiple"], ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Keyword("STREAMS", 1), find: Find::Range(-1, 1, 2) }],
        ..D
    },
    Doc {
        name: "xreadgroup",
        summary: "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.",
        since: "5.0.0",
        group: "stream",
        complexity: Some("For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data."),
        args: &[
            Arg { name: "group_consumer", kind: "block", token: Some("GROUP"), args: &[
                Arg { name: "group", kind: "string", ..A },
                Arg { name: "consumer", kind: "string", ..A },
            ], ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
            Arg { name: "milliseconds", kind: "integer", token: Some("BLOCK"), flags: &["optional"], ..A },
            Arg { name: "noack", kind: "pure-token", token: Some("NOACK"), flags: &["optional"], ..A },
            Arg { name: "streams", kind: "block", token: Some("STREAMS"), args: &[
                Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
                Arg { name: "id", kind: "string", flags: &["multiple"], ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Keyword("STREAMS", 4), find: Find::Range(-1, 1, 2) }],
        ..D
    },
    Doc {
        name: "xrevrange",
        summary: "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE",
        since: "5.0.0",
        group: "stream",
        complexity: Some("O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1)."),
        history: &[("6.2.0", "Added exclusive ranges.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "end", kind: "string", ..A },
            Arg { name: "start", kind: "string", ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "xsetid",
        summary: "An internal command for replicating stream values",
        since: "5.0.0",
        group: "stream",
        complexity: Some("O(1)"),
        history: &[("7.0.0", "Added the `entries_added` and `max_deleted_entry_id` arguments.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "last-id", kind: "string", ..A },
            Arg { name: "entries_added", kind: "integer", token: Some("ENTRIESADDED"), since: Some("7.0.0"), flags: &["optional"], ..A },
            Arg { name: "max_deleted_entry_id", kind: "string", token: Some("MAXDELETEDID"), since: Some("7.0.0"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "xtrim",
        summary: "Trims the stream to (approximately if '~' is passed) a certain size",
        since: "5.0.0",
        group: "stream",
        complexity: Some("O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation."),
        history: &[("6.2.0", "Added the `MINID` trimming strategy and the `LIMIT` option.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "trim", kind: "block", args: &[
                Arg { name: "strategy", kind: "oneof", args: &[
                    Arg { name: "maxlen", kind: "pure-token", token: Some("MAXLEN"), ..A },
                    Arg { name: "minid", kind: "pure-token", token: Some("MINID"), since: Some("6.2.0"), ..A },
                ], ..A },
                Arg { name: "operator", kind: "oneof", flags: &["optional"], args: &[
                    Arg { name: "equal", kind: "pure-token", token: Some("="), ..A },
                    Arg { name: "approximately", kind: "pure-token", token: Some("~"), ..A },
                ], ..A },
                Arg { name: "threshold", kind: "string", ..A },
                Arg { name: "count", kind: "integer", token: Some("LIMIT"), since: Some("6.2.0"), flags: &["optional"], ..A },
            ], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zadd",
        summary: "Add one or more members to a sorted set, or update its score if it already exists",
        since: "1.2.0",
        group: "sorted-set",
        complexity: Some("O(log(N)) for each item added, where N is the number of elements in the sorted set."),
        history: &[("2.4.0", "Accepts multiple elements."), ("3.0.2", "Added the `XX`, `NX`, `CH` and `INCR` options."), ("6.2.0", "Added the `GT` and `LT` options.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "condition", kind: "oneof", since: Some("3.0.2"), flags: &["optional"], args: &[
                Arg { name: "nx", kind: "pure-token", token: Some("NX"), ..A },
                Arg { name: "xx", kind: "pure-token", token: Some("XX"), ..A },
            ], ..A },
            Arg { name: "comparison", kind: "oneof", since: Some("6.2.0"), flags: &["optional"], args: &[
                Arg { name: "gt", kind: "pure-token", token: Some("GT"), ..A },
                Arg { name: "lt", kind: "pure-token", token: Some("LT"), ..A },
            ], ..A },
            Arg { name: "change", kind: "pure-token", token: Some("CH"), since: Some("3.0.2"), flags: &["optional"], ..A },
            Arg { name: "increment", kind: "pure-token", token: Some("INCR"), since: Some("3.0.2"), flags: &["optional"], ..A },
            Arg { name: "score_member", kind: "block", flags: &["multiple"], args: &[
                Arg { name: "score", kind: "double", ..A },
                Arg { name: "member", kind: "string", ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zcard",
        summary: "Get the number of members in a sorted set",
        since: "1.2.0",
        group: "sorted-set",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zcount",
        summary: "Count the members in a sorted set with scores within the given values",
        since: "2.0.0",
        group: "sorted-set",
        complexity: Some("O(log(N)) with N being the number of elements in the sorted set."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "min", kind: "double", ..A },
            Arg { name: "max", kind: "double", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zdiff",
        summary: "Subtract multiple sorted sets",
        since: "6.2.0",
        group: "sorted-set",
        complexity: Some("O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."),
        args: &[
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "withscores", kind: "pure-token", token: Some("WITHSCORES"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "zdiffstore",
        summary: "Subtract multiple sorted sets and store the resulting sorted set in a new key",
        since: "6.2.0",
        group: "sorted-set",
        complexity: Some("O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."),
        args: &[
            Arg { name: "destination", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(1), flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zincrby",
        summary: "Increment the score of a member in a sorted set",
        since: "1.2.0",
        group: "sorted-set",
        complexity: Some("O(log(N)) where N is the number of elements in the sorted set."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "increment", kind: "integer", ..A },
            Arg { name: "member", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zinter",
        summary: "Intersect multiple sorted sets",
        since: "6.2.0",
        group: "sorted-set",
        complexity: Some("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."),
        args: &[
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "weight", kind: "integer", token: Some("WEIGHTS"), flags: &["optional", "multiple"], ..A },
            Arg { name: "aggregate", kind: "oneof", token: Some("AGGREGATE"), flags: &["optional"], args: &[
                Arg { name: "sum", kind: "pure-token", token: Some("SUM"), ..A },
                Arg { name: "min", kind: "pure-token", token: Some("MIN"), ..A },
                Arg { name: "max", kind: "pure-token", token: Some("MAX"), ..A },
            ], ..A },
            Arg { name: "withscores", kind: "pure-token", token: Some("WITHSCORES"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "zintercard",
        summary: "Intersect multiple sorted sets and return the cardinality of the result",
        since: "7.0.0",
        group: "sorted-set",
        complexity: Some("O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets."),
        args: &[
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "limit", kind: "integer", token: Some("LIMIT"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "zinterstore",
        summary: "Intersect multiple sorted sets and store the resulting sorted set in a new key",
        since: "2.0.0",
        group: "sorted-set",
        complexity: Some("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."),
        args: &[
            Arg { name: "destination", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(1), flags: &["multiple"], ..A },
            Arg { name: "weight", kind: "integer", token: Some("WEIGHTS"), flags: &["optional", "multiple"], ..A },
            Arg { name: "aggregate", kind: "oneof", token: Some("AGGREGATE"), flags: &["optional"], args: &[
                Arg { name: "sum", kind: "pure-token", token: Some("SUM"), ..A },
                Arg { name: "min", kind: "pure-token", token: Some("MIN"), ..A },
                Arg { name: "max", kind: "pure-token", token: Some("MAX"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zlexcount",
        summary: "Count the number of members in a sorted set between a given lexicographical range",
        since: "2.8.9",
        group: "sorted-set",
        complexity: Some("O(log(N)) with N being the number of elements in the sorted set."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "min", kind: "string", ..A },
            Arg { name: "max", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zmpop",
        summary: "Remove and return members with scores in a sorted set",
        since: "7.0.0",
        group: "sorted-set",
        complexity: Some("O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."),
        args: &[
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "where", kind: "oneof", args: &[
                Arg { name: "min", kind: "pure-token", token: Some("MIN"), ..A },
                Arg { name: "max", kind: "pure-token", token: Some("MAX"), ..A },
            ], ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "zmscore",
        summary: "Get the score associated with the given members in a sorted set",
        since: "6.2.0",
        group: "sorted-set",
        complexity: Some("O(N) where N is the number of members being requested."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zpopmax",
        summary: "Remove and return members with the highest scores in a sorted set",
        since: "5.0.0",
        group: "sorted-set",
        complexity: Some("O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "count", kind: "integer", flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zpopmin",
        summary: "Remove and return members with the lowest scores in a sorted set",
        since: "5.0.0",
        group: "sorted-set",
        complexity: Some("O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "count", kind: "integer", flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zrandmember",
        summary: "Get one or multiple random elements from a sorted set",
        since: "6.2.0",
        group: "sorted-set",
        complexity: Some("O(N) where N is the number of elements returned"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "options", kind: "block", flags: &["optional"], args: &[
                Arg { name: "count", kind: "integer", ..A },
                Arg { name: "withscores", kind: "pure-token", token: Some("WITHSCORES"), flags: &["optional"], ..A },
            ], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zrange",
        summary: "Return a range of members in a sorted set",
        since: "1.2.0",
        group: "sorted-set",
        complexity: Some("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."),
        history: &[("6.2.0", "Added the `REV`, `BYSCORE`, `BYLEX` and `LIMIT` options.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "start", kind: "string", ..A },
            Arg { name: "stop", kind: "string", ..A },
            Arg { name: "sortby", kind: "oneof", since: Some("6.2.0"), flags: &["optional"], args: &[
                Arg { name: "byscore", kind: "pure-token", token: Some("BYSCORE"), ..A },
                Arg { name: "bylex", kind: "pure-token", token: Some("BYLEX"), ..A },
            ], ..A },
            Arg { name: "rev", kind: "pure-token", token: Some("REV"), since: Some("6.2.0"), flags: &["optional"], ..A },
            Arg { name: "offset_count", kind: "block", token: Some("LIMIT"), since: Some("6.2.0"), flags: &["optional"], args: &[
                Arg { name: "offset", kind: "integer", ..A },
                Arg { name: "count", kind: "integer", ..A },
            ], ..A },
            Arg { name: "withscores", kind: "pure-token", token: Some("WITHSCORES"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zrangebylex",
        summary: "Return a range of members in a sorted set, by lexicographical range",
        since: "2.8.9",
        group: "sorted-set",
        complexity: Some("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`ZRANGE` with the `BYLEX` argument"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "min", kind: "string", ..A },
            Arg { name: "max", kind: "string", ..A },
            Arg { name: "offset_count", kind: "block", token: Some("LIMIT"), flags: &["optional"], args: &[
                Arg { name: "offset", kind: "integer", ..A },
                Arg { name: "count", kind: "integer", ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zrangebyscore",
        summary: "Return a range of members in a sorted set, by score",
        since: "1.0.5",
        group: "sorted-set",
        complexity: Some("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`ZRANGE` with the `BYSCORE` argument"),
        history: &[("2.0.0", "Added the `WITHSCORES` modifier.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "min", kind: "double", ..A },
            Arg { name: "max", kind: "double", ..A },
            Arg { name: "withscores", kind: "pure-token", token: Some("WITHSCORES"), since: Some("2.0.0"), flags: &["optional"], ..A },
            Arg { name: "offset_count", kind: "block", token: Some("LIMIT"), flags: &["optional"], args: &[
                Arg { name: "offset", kind: "integer", ..A },
                Arg { name: "count", kind: "integer", ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zrangestore",
        summary: "Store a range of members from sorted set into another key",
        since: "6.2.0",
        group: "sorted-set",
        complexity: Some("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key."),
        args: &[
            Arg { name: "dst", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "src", kind: "key", key_spec_index: Some(1), ..A },
            Arg { name: "min", kind: "string", ..A },
            Arg { name: "max", kind: "string", ..A },
            Arg { name: "sortby", kind: "oneof", flags: &["optional"], args: &[
                Arg { name: "byscore", kind: "pure-token", token: Some("BYSCORE"), ..A },
                Arg { name: "bylex", kind: "pure-token", token: Some("BYLEX"), ..A },
            ], ..A },
            Arg { name: "rev", kind: "pure-token", token: Some("REV"), flags: &["optional"], ..A },
            Arg { name: "offset_count", kind: "block", token: Some("LIMIT"), flags: &["optional"], args: &[
                Arg { name: "offset", kind: "integer", ..A },
                Arg { name: "count", kind: "integer", ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range(0, 1, 0) }],
        legacy: (1, 2, 1),
        ..D
    },
    Doc {
        name: "zrank",
        summary: "Determine the index of a member in a sorted set",
        since: "2.0.0",
        group: "sorted-set",
        complexity: Some("O(log(N))"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zrem",
        summary: "Remove one or more members from a sorted set",
        since: "1.2.0",
        group: "sorted-set",
        complexity: Some("O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed."),
        history: &[("2.4.0", "Accepts multiple elements.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", flags: &["multiple"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zremrangebylex",
        summary: "Remove all members in a sorted set between the given lexicographical range",
        since: "2.8.9",
        group: "sorted-set",
        complexity: Some("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "min", kind: "string", ..A },
            Arg { name: "max", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zremrangebyrank",
        summary: "Remove all members in a sorted set within the given indexes",
        since: "2.0.0",
        group: "sorted-set",
        complexity: Some("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "start", kind: "integer", ..A },
            Arg { name: "stop", kind: "integer", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zremrangebyscore",
        summary: "Remove all members in a sorted set within the given scores",
        since: "1.2.0",
        group: "sorted-set",
        complexity: Some("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "min", kind: "double", ..A },
            Arg { name: "max", kind: "double", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zrevrange",
        summary: "Return a range of members in a sorted set, by index, with scores ordered from high to low",
        since: "1.2.0",
        group: "sorted-set",
        complexity: Some("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`ZRANGE` with the `REV` argument"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "start", kind: "integer", ..A },
            Arg { name: "stop", kind: "integer", ..A },
            Arg { name: "withscores", kind: "pure-token", token: Some("WITHSCORES"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zrevrangebylex",
        summary: "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
        since: "2.8.9",
        group: "sorted-set",
        complexity: Some("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`ZRANGE` with the `REV` and `BYLEX` arguments"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "max", kind: "string", ..A },
            Arg { name: "min", kind: "string", ..A },
            Arg { name: "offset_count", kind: "block", token: Some("LIMIT"), flags: &["optional"], args: &[
                Arg { name: "offset", kind: "integer", ..A },
                Arg { name: "count", kind: "integer", ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zrevrangebyscore",
        summary: "Return a range of members in a sorted set, by score, with scores ordered from high to low",
        since: "2.2.0",
        group: "sorted-set",
        complexity: Some("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
        doc_flags: &["deprecated"],
        deprecated_since: Some("6.2.0"),
        replaced_by: Some("`ZRANGE` with the `REV` and `BYSCORE` arguments"),
        history: &[("2.1.6", "`min` and `max` can be exclusive.")],
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "max", kind: "double", ..A },
            Arg { name: "min", kind: "double", ..A },
            Arg { name: "withscores", kind: "pure-token", token: Some("WITHSCORES"), flags: &["optional"], ..A },
            Arg { name: "offset_count", kind: "block", token: Some("LIMIT"), flags: &["optional"], args: &[
                Arg { name: "offset", kind: "integer", ..A },
                Arg { name: "count", kind: "integer", ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zrevrank",
        summary: "Determine the index of a member in a sorted set, with scores ordered from high to low",
        since: "2.0.0",
        group: "sorted-set",
        complexity: Some("O(log(N))"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zscan",
        summary: "Incrementally iterate sorted sets elements and associated scores",
        since: "2.8.0",
        group: "sorted-set",
        complexity: Some("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "cursor", kind: "integer", ..A },
            Arg { name: "pattern", kind: "pattern", token: Some("MATCH"), flags: &["optional"], ..A },
            Arg { name: "count", kind: "integer", token: Some("COUNT"), flags: &["optional"], ..A },
        ],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zscore",
        summary: "Get the score associated with the given member in a sorted set",
        since: "1.2.0",
        group: "sorted-set",
        complexity: Some("O(1)"),
        args: &[
            Arg { name: "key", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "member", kind: "string", ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }],
        legacy: (1, 1, 1),
        ..D
    },
    Doc {
        name: "zunion",
        summary: "Add multiple sorted sets",
        since: "6.2.0",
        group: "sorted-set",
        complexity: Some("O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."),
        args: &[
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(0), flags: &["multiple"], ..A },
            Arg { name: "weight", kind: "integer", token: Some("WEIGHTS"), flags: &["optional", "multiple"], ..A },
            Arg { name: "aggregate", kind: "oneof", token: Some("AGGREGATE"), flags: &["optional"], args: &[
                Arg { name: "sum", kind: "pure-token", token: Some("SUM"), ..A },
                Arg { name: "min", kind: "pure-token", token: Some("MIN"), ..A },
                Arg { name: "max", kind: "pure-token", token: Some("MAX"), ..A },
            ], ..A },
            Arg { name: "withscores", kind: "pure-token", token: Some("WITHSCORES"), flags: &["optional"], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Keynum(0, 1, 1) }],
        ..D
    },
    Doc {
        name: "zunionstore",
        summary: "Add multiple sorted sets and store the resulting sorted set in a new key",
        since: "2.0.0",
        group: "sorted-set",
        complexity: Some("O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."),
        args: &[
            Arg { name: "destination", kind: "key", key_spec_index: Some(0), ..A },
            Arg { name: "numkeys", kind: "integer", ..A },
            Arg { name: "key", kind: "key", key_spec_index: Some(1), flags: &["multiple"], ..A },
            Arg { name: "weight", kind: "integer", token: Some("WEIGHTS"), flags: &["optional", "multiple"], ..A },
            Arg { name: "aggregate", kind: "oneof", token: Some("AGGREGATE"), flags: &["optional"], args: &[
                Arg { name: "sum", kind: "pure-token", token: Some("SUM"), ..A },
                Arg { name: "min", kind: "pure-token", token: Some("MIN"), ..A },
                Arg { name: "max", kind: "pure-token", token: Some("MAX"), ..A },
            ], ..A },
        ],
        key_specs: &[KeySpec { notes: None, flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range(0, 1, 0) }, KeySpec { notes: None, flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum(0, 1, 1) }],
        legacy: (1, 1, 1),
        ..D
    },
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
