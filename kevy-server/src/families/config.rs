//! The CONFIG family: GET, SET, RESETSTAT, REWRITE and HELP over the
//! parameter table in [`crate::settings`].

use super::common::{c_str, dispatch, reply_help};
use crate::ctx::ConnCtx;
use crate::settings::{
    apply_live, check, check_live, find_param, normalize, param_value, runtime, Counters, Param,
    Policy, PARAMS,
};
use crate::table::{flag, SubSpec, Table};
use kevy_rt::ConnAction;
use kevy_store::glob::matches_with;

pub fn register(t: &mut Table) {
    t.add_container(
        super::common::conn_spec("config", -2, 0, &["@slow"], cmd_config),
        CONFIG_SUBS,
    );
}

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
        for p in PARAMS.iter().filter(|p| !p.hidden) {
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
        let checked = normalize(p.kind, value)
            .and_then(|v| check(p.name, &v).map(|()| v))
            .and_then(|v| check_live(ctx.server, p.name, &v).map(|()| v));
        let v = match checked {
            Ok(v) => crate::settings::settle(p.name, v, || param_value(ctx.server, p, &rt)),
            Err(why) => {
                ctx.out.error(&set_failed(name, &why));
                return ConnAction::Continue;
            }
        };
        if matches!(p.policy, Policy::Fixed | Policy::Startup) {
            let current = param_value(ctx.server, p, &rt);
            if normalize(p.kind, current.as_bytes()).map_or(true, |c| c != v) {
                ctx.out.error(&set_failed(name, "not supported by kevy"));
                return ConnAction::Continue;
            }
            continue;
        }
        updates.push((p.name, v));
    }
    for (name, v) in &updates {
        match rt.overrides.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = v.clone(),
            None => rt.overrides.push((name, v.clone())),
        }
    }
    // Applied with the lock released: an effect may read other settings.
    drop(rt);
    for (name, v) in updates {
        apply_live(ctx.server, name, &v);
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

fn config_resetstat(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let now = Counters::read(ctx.server);
    runtime().baseline = now;
    ctx.server.cmdstats.reset();
    ctx.out.ok();
    ConnAction::Continue
}

fn config_rewrite(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let Some(path) = crate::settings::config_file() else {
        ctx.out
            .error("ERR The server is running without a config file");
        return ConnAction::Continue;
    };
    match crate::rewrite::rewrite(ctx.server, &path) {
        Ok(()) => {
            crate::log!(Warning, "CONFIG REWRITE executed with success.");
            ctx.out.ok();
        }
        Err(e) => {
            let why = crate::conf::os_reason(&e);
            crate::log!(Warning, "CONFIG REWRITE failed: {why}");
            ctx.out.error(&format!("ERR Rewriting config file: {why}"));
        }
    }
    ConnAction::Continue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::harness::harness;
    use crate::settings::{parse_memory, Kind, POLICIES};

    #[test]
    fn config_get_answers_like_redis() {
        let mut h = harness();
        // Redis 7's default save points (no test in this process changes
        // them: settings are process-wide).
        let points = "$23\r\n3600 1 300 100 60 10000\r\n";
        assert_eq!(
            h.run("CONFIG GET save"),
            format!("*2\r\n$4\r\nsave\r\n{points}")
        );
        assert_eq!(
            h.run("CONFIG GET appendonly"),
            "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
        );
        assert_eq!(
            h.run("CONFIG GET SAVE"),
            format!("*2\r\n$4\r\nSAVE\r\n{points}")
        );
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
            format!("*4\r\n$4\r\nsave\r\n{points}$10\r\nappendonly\r\n$2\r\nno\r\n")
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
        assert_eq!(
            h.args(&["CONFIG", "SET", "save", "3600 1 300 100 60 10000"]),
            "+OK\r\n"
        );
        // Settings kevy does not implement accept only their current value.
        assert_eq!(
            h.run("CONFIG SET appendonly NO maxmemory-clients 0"),
            "+OK\r\n"
        );
        assert_eq!(
            h.run("CONFIG SET maxmemory-clients 1gb"),
            "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - not supported by kevy\r\n"
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
            .run("CONFIG SET hash-max-listpack-value 99 maxmemory-clients 1gb")
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
        // As memtoull: strtoull saturates, the unit's product wraps.
        assert_eq!(parse_memory(b"99999999999999999999"), Some(u64::MAX));
        assert_eq!(
            parse_memory(b"20000000000000000gb"),
            Some(4026358804357578752)
        );
        assert_eq!(parse_memory(b""), Some(0));
        assert_eq!(parse_memory(b"+1"), None);
        assert_eq!(parse_memory(&[b'0'; 127]), Some(0));
        assert_eq!(parse_memory(&[b'0'; 128]), None);
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
    }
}
