//! Argument and reply helpers that several families share: container
//! dispatch with Redis's errors, HELP replies, C-style string rendering and
//! the version kevy reports.

use crate::ctx::{ConnCtx, Ctx};
use crate::server::Server;
use crate::table::{arity_ok, CommandSpec, Handler, RouteKind, SubSpec};
use kevy_resp::{Args, Reply};
use kevy_rt::ConnAction;
use kevy_store::{Db, OpError, OpResult, Value};

/// The Redis version kevy reports (HELLO, INFO): clients gate features on
/// it, and kevy implements Redis 7.0's commands and replies.
pub const REDIS_VERSION: &str = "7.0.15";

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

/// Redis's `addReplySubcommandSyntaxError`: what a container's own
/// argument check answers, naming the subcommand as the client typed it.
pub fn subcommand_syntax_error(args: Args<'_>) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        c_str(args.get(1), 128),
        c_str(args.get(0), usize::MAX).to_ascii_uppercase()
    )
}

/// Redis's HELP reply: a title naming the container as the client typed it,
/// the lines, and the HELP entry every container has.
pub fn reply_help(ctx: &mut ConnCtx<'_>, lines: &[&str]) {
    help_reply(&mut ctx.out, ctx.args.get(0), lines);
}

/// [`reply_help`] for a command that runs on a shard: `cmd` is the name
/// as the client typed it.
pub fn help_reply(out: &mut Reply<'_>, cmd: &[u8], lines: &[&str]) {
    let name = c_str(cmd, usize::MAX).to_ascii_uppercase();
    out.array(lines.len() + 3);
    let title = format!("{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    out.simple(title.as_bytes());
    for l in lines {
        out.simple(l.as_bytes());
    }
    out.simple(b"HELP");
    out.simple(b"    Prints this help.");
}

/// Bytes as C's `%.Ns` prints them: stopping at NUL, at most `max` bytes.
pub fn c_str(s: &[u8], max: usize) -> String {
    let s = &s[..s.len().min(max)];
    let s = s.iter().position(|&b| b == 0).map_or(s, |z| &s[..z]);
    String::from_utf8_lossy(s).into_owned()
}

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

/// The time of the last successful save: with no save yet, start-up (as
/// Redis initialises it).
pub fn last_save(server: &Server) -> u64 {
    server
        .persist
        .lastsave
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether the arguments end at `at` or hold one SYNC or ASYNC there:
/// the flush mode FLUSHALL, FLUSHDB, SCRIPT FLUSH and FUNCTION FLUSH take
/// (both free in place here).
pub fn flush_mode_ok(args: &Args<'_>, at: usize) -> bool {
    args.len() == at
        || (args.len() == at + 1
            && (args.get(at).eq_ignore_ascii_case(b"sync")
                || args.get(at).eq_ignore_ascii_case(b"async")))
}

/// Changes the collection at `key` in place through the store's update
/// path (which accounts memory, deletes it if left empty and reports the
/// change when `f` says it changed something). `pick` selects the type;
/// another type is WRONGTYPE. `Ok(None)` when the key is missing (`f` not
/// called).
pub fn modify_as<T, R>(
    db: &mut Db<'_>,
    key: &[u8],
    pick: impl FnOnce(&mut Value) -> Option<&mut T>,
    f: impl FnOnce(&mut T) -> (R, bool),
) -> OpResult<Option<R>> {
    let mut k = db.update(key);
    let done = k.modify(|v| pick(v).map(f).ok_or(OpError::WrongType));
    match done {
        None => Ok(None),
        Some(Ok((r, changed))) => {
            if changed {
                k.changed();
            }
            Ok(Some(r))
        }
        Some(Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_str_stops_at_nul_and_limit() {
        assert_eq!(c_str(b"ab\0cd", 10), "ab");
        assert_eq!(c_str(b"abcdef", 3), "abc");
    }
}

/// Redis's `getTimeoutFromObjectOrReply` in seconds: a `strtold` number
/// (hex and `inf` included), times 1000 rounded up, in milliseconds; 0
/// waits for ever. A value past the range of `long long` converts, as on
/// x86-64, to its most negative value, so Redis calls it negative.
pub fn parse_timeout(a: &[u8]) -> Result<u64, &'static str> {
    const NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
    // Whole seconds, as clients mostly send them (and a waiter's command
    // runs again each time it is served): exact without the long double,
    // and at most 10^12 s, far inside the range checks below.
    if let Some(secs) =
        kevy_store::num::parse_i64(a).filter(|s| (0..=1_000_000_000_000).contains(s))
    {
        return Ok(secs as u64 * 1000);
    }
    let ld = kevy_store::num::LongDouble::parse(a).ok_or(NOT_FLOAT)?;
    // In `long double`, as Redis computes it: -0.001 s is -0.99999… ms
    // there, which rounds up to 0, a wait for ever.
    let ms = match ld.mul_small(1000).ceil_i64() {
        Some(ms) if ms >= 0 => ms,
        _ => return Err("ERR timeout is negative"),
    };
    let now = kevy_sys::clock::unix_ms() as i64;
    if ms > 0 && ms > i64::MAX - now {
        return Err("ERR timeout is out of range");
    }
    Ok(ms as u64)
}

/// A blocking command found nothing: it waits when it may, else (inside
/// MULTI or a transaction) answers nil as its non-blocking form would.
pub fn block_or_nil(ctx: &mut Ctx<'_>, timeout: u64, null_bulk: bool) {
    if ctx.shard.may_block {
        ctx.shard.block = Some(timeout);
    } else if null_bulk {
        ctx.out.null();
    } else {
        ctx.out.null_array();
    }
}

#[cfg(test)]
mod timeout_tests {
    use super::parse_timeout;

    #[test]
    fn timeouts_parse_as_redis_does() {
        // Checked against redis-server 7.0.15: strtold syntax, rounded up
        // to the millisecond, values past `long long` called negative.
        assert_eq!(parse_timeout(b"0"), Ok(0));
        assert_eq!(parse_timeout(b"1.5"), Ok(1500));
        assert_eq!(parse_timeout(b"0.0001"), Ok(1));
        assert_eq!(parse_timeout(b"1e-400"), Ok(1));
        assert_eq!(parse_timeout(b"0x1p-4"), Ok(63));
        assert_eq!(parse_timeout(b"0x0.1p0"), Ok(63));
        for neg in [&b"inf"[..], b"-inf", b"1e300", b"9.3e15", b"-1", b"-0.5"] {
            assert_eq!(
                parse_timeout(neg),
                Err("ERR timeout is negative"),
                "{neg:?}"
            );
        }
        for bad in [&b" 1"[..], b"1 ", b"nan", b"0x", b"", b"abc"] {
            assert_eq!(
                parse_timeout(bad),
                Err("ERR timeout is not a float or out of range"),
                "{bad:?}"
            );
        }
        assert!(parse_timeout(b"9.2e15").is_ok());
        // Negative values that round up to 0 ms in `long double` wait for
        // ever; a value that holds in `long long` only there is in range
        // until the clock is added.
        for zero in [&b"-0.001"[..], b"-1e-3", b"-0.0001", b"-0"] {
            assert_eq!(parse_timeout(zero), Ok(0), "{zero:?}");
        }
        assert_eq!(parse_timeout(b"-0.002"), Err("ERR timeout is negative"));
        assert_eq!(
            parse_timeout(b"9223372036854775"),
            Err("ERR timeout is out of range")
        );
        // Whole seconds (the short path) and the same values in the long
        // double's syntax agree.
        for (whole, float) in [
            (&b"7"[..], &b"7.0"[..]),
            (b"0007", b"7e0"),
            (b"999999999999", b"999999999999.0"),
            (b"1000000000000", b"1e12"),
        ] {
            assert_eq!(parse_timeout(whole), parse_timeout(float), "{whole:?}");
            assert!(parse_timeout(whole).is_ok());
        }
        assert_eq!(parse_timeout(b"0007"), Ok(7000));
    }
}
