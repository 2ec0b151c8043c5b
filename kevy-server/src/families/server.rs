//! The server command family: TIME and LASTSAVE. COMMAND, CONFIG and INFO
//! have their own modules.

use super::common::{conn_spec, last_save};
use crate::ctx::ConnCtx;
use crate::table::{flag, Table};
use kevy_rt::ConnAction;

pub fn register(t: &mut Table) {
    use flag::*;
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

fn cmd_time(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let us = kevy_sys::clock::unix_us();
    ctx.out.array(2);
    ctx.out.bulk_i64((us / 1_000_000) as i64);
    ctx.out.bulk_i64((us % 1_000_000) as i64);
    ConnAction::Continue
}

fn cmd_lastsave(ctx: &mut ConnCtx<'_>) -> ConnAction {
    ctx.out.int(last_save(ctx.server) as i64);
    ConnAction::Continue
}

#[cfg(test)]
mod tests {
    use crate::families::testkit::harness::harness;

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
